// File pickers for the VM form's path fields. The desktop app uses the system's open dialog; a
// browser cannot see the host's files, so web mode browses them through the host, which lists one
// folder at a time (names, kinds, sizes: main/file-browser.ts) and never sends a file's contents.
import { useEffect, useRef, useState } from 'react';
import type { DirListing } from '../../main/api-types.ts';
import { api } from './api-client.ts';
import { Dialog } from './dialog.tsx';

export type PickKind = 'file' | 'folder';

function size(n: number | null): string {
  if (n === null) return '';
  if (n >= 1024 ** 3) return `${(n / 1024 ** 3).toFixed(1)} GiB`;
  if (n >= 1024 ** 2) return `${(n / 1024 ** 2).toFixed(1)} MiB`;
  if (n >= 1024) return `${(n / 1024).toFixed(0)} KiB`;
  return `${n} B`;
}

const folderOf = (p: string): string => (p.startsWith('/') ? p.slice(0, p.lastIndexOf('/')) || '/' : '');
const join = (dir: string, name: string): string => (dir.endsWith('/') ? dir + name : `${dir}/${name}`);

/** The browse dialog of web mode. */
export function FileBrowser(props: { title: string; kind: PickKind; start: string; onPick(path: string): void; onCancel(): void }) {
  const [listing, setListing] = useState<DirListing | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [selected, setSelected] = useState(0);
  const [goTo, setGoTo] = useState('');
  const [recent, setRecent] = useState<string[]>([]);
  const list = useRef<HTMLUListElement>(null);
  const open = (path: string, fallback = false): void => {
    setError(null);
    void api.browseDir(path).then(
      (l) => {
        setListing(l);
        setGoTo(l.path);
        setSelected(0);
      },
      (e: Error) => (fallback ? open('') : setError(e.message)),
    );
  };
  useEffect(() => {
    open(props.start ? (props.kind === 'folder' ? props.start : folderOf(props.start)) : '', true);
    if (props.kind === 'file') void api.recentFiles().then(setRecent, () => {});
    // Listed once, when the dialog opens.
  }, []);
  const entries = listing?.entries ?? [];
  const activate = (i: number): void => {
    const e = entries[i];
    if (!e || !listing) return;
    if (e.kind === 'dir') open(join(listing.path, e.name));
    else if (props.kind === 'file') props.onPick(join(listing.path, e.name));
  };
  const onListKey = (ev: React.KeyboardEvent): void => {
    const last = entries.length - 1;
    const move = (i: number): void => {
      ev.preventDefault();
      setSelected(Math.max(0, Math.min(last, i)));
    };
    if (ev.key === 'ArrowDown') move(selected + 1);
    else if (ev.key === 'ArrowUp') move(selected - 1);
    else if (ev.key === 'Home') move(0);
    else if (ev.key === 'End') move(last);
    else if (ev.key === 'PageDown') move(selected + 10);
    else if (ev.key === 'PageUp') move(selected - 10);
    else if (ev.key === 'Enter') {
      ev.preventDefault();
      activate(selected);
    } else if (ev.key === 'Backspace' && listing?.parent) {
      ev.preventDefault();
      open(listing.parent);
    }
  };
  useEffect(() => {
    list.current?.querySelector(`[data-index="${selected}"]`)?.scrollIntoView({ block: 'nearest' });
  }, [selected, listing]);
  const chosen = entries[selected];
  const canPick = props.kind === 'folder' ? listing !== null : chosen?.kind === 'file';
  return (
    <Dialog title={props.title} onCancel={props.onCancel} wide>
      <div className="browse-bar">
        <button type="button" onClick={() => listing?.parent && open(listing.parent)} disabled={!listing?.parent} aria-label="Up one folder">
          ↑ Up
        </button>
        <button type="button" onClick={() => open('')}>
          Home
        </button>
        <input
          aria-label="Folder"
          name="browse-path"
          value={goTo}
          spellCheck={false}
          onChange={(e) => setGoTo(e.target.value)}
          onKeyDown={(e) => {
            if (e.key !== 'Enter') return;
            // Not the VM form's submit: the dialog sits inside it in React's tree.
            e.preventDefault();
            e.stopPropagation();
            open(goTo);
          }}
        />
        <button type="button" onClick={() => open(goTo)}>
          Go
        </button>
      </div>
      {error ? (
        <div className="field-error" role="alert">
          {error}
        </div>
      ) : null}
      {recent.length ? (
        <div className="recent">
          <div className="section-label">Recent files</div>
          {recent.map((p) => (
            <button type="button" key={p} className="link" title={p} onClick={() => props.onPick(p)}>
              {p}
            </button>
          ))}
        </div>
      ) : null}
      <ul
        className="browse-list"
        role="listbox"
        aria-label={listing ? `Contents of ${listing.path}` : 'Folder contents'}
        aria-activedescendant={chosen ? `browse-item-${selected}` : undefined}
        tabIndex={0}
        ref={list}
        onKeyDown={onListKey}
        data-autofocus
      >
        {entries.map((e, i) => (
          <li
            key={e.name}
            id={`browse-item-${i}`}
            data-index={i}
            role="option"
            aria-selected={i === selected}
            className={`${i === selected ? 'selected ' : ''}${e.kind}`}
            onClick={() => setSelected(i)}
            onDoubleClick={() => activate(i)}
          >
            <span className="icon" aria-hidden="true">
              {e.kind === 'dir' ? '▸' : e.kind === 'file' ? '·' : '?'}
            </span>
            <span className="name">{e.name}</span>
            <span className="size">{e.kind === 'dir' ? 'folder' : size(e.bytes)}</span>
          </li>
        ))}
        {listing && !entries.length ? <li className="muted">This folder is empty.</li> : null}
      </ul>
      {listing?.truncated ? <p className="hint">Only the first {entries.length} entries are shown.</p> : null}
      <div className="actions">
        <button type="button" onClick={props.onCancel}>
          Cancel
        </button>
        <button
          type="button"
          className="primary"
          disabled={!canPick}
          onClick={() => listing && props.onPick(props.kind === 'folder' ? (chosen?.kind === 'dir' ? join(listing.path, chosen.name) : listing.path) : join(listing.path, chosen!.name))}
        >
          {props.kind === 'folder' ? (chosen?.kind === 'dir' ? `Choose ${chosen.name}` : 'Choose this folder') : 'Choose'}
        </button>
      </div>
    </Dialog>
  );
}

/** A path field's Browse… button: the desktop's own dialog in Electron, the host's browser otherwise. */
export function BrowseButton(props: { label: string; kind: PickKind; value: string; onPick(path: string): void }) {
  const [open, setOpen] = useState(false);
  const click = (): void => {
    if (api.pickPath) {
      void api.pickPath(props.kind, props.value).then((p) => p && props.onPick(p), () => setOpen(true));
      return;
    }
    setOpen(true);
  };
  return (
    <>
      <button type="button" className="browse" onClick={click} aria-label={`Browse for ${props.label}`}>
        Browse…
      </button>
      {open ? (
        <FileBrowser
          title={`Choose ${props.label}`}
          kind={props.kind}
          start={props.value}
          onCancel={() => setOpen(false)}
          onPick={(p) => {
            setOpen(false);
            props.onPick(p);
          }}
        />
      ) : null}
    </>
  );
}
