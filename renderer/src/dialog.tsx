// A modal dialog as the WAI-ARIA dialog pattern describes it: focus moves into it, Tab and
// Shift+Tab stay inside, Escape cancels, and focus goes back to where it was when it closes.
import { useEffect, useRef } from 'react';
import { createPortal } from 'react-dom';

const FOCUSABLE = 'button:not([disabled]), [href], input:not([disabled]), select:not([disabled]), textarea:not([disabled]), [tabindex]:not([tabindex="-1"])';

export function Dialog(props: { title: string; onCancel(): void; children: React.ReactNode; wide?: boolean; describedBy?: string }) {
  const box = useRef<HTMLDivElement>(null);
  const cancel = useRef(props.onCancel);
  cancel.current = props.onCancel;
  useEffect(() => {
    const before = document.activeElement as HTMLElement | null;
    const el = box.current!;
    // The element marked autofocus, else the first control, else the dialog itself.
    const first = el.querySelector<HTMLElement>('[data-autofocus]') ?? el.querySelector<HTMLElement>(FOCUSABLE) ?? el;
    first.focus();
    return () => before?.focus?.();
  }, []);
  const onKeyDown = (e: React.KeyboardEvent): void => {
    if (e.key === 'Escape') {
      e.stopPropagation();
      cancel.current();
      return;
    }
    if (e.key !== 'Tab') return;
    const items = [...box.current!.querySelectorAll<HTMLElement>(FOCUSABLE)].filter((x) => x.offsetParent !== null);
    if (!items.length) return e.preventDefault();
    const first = items[0]!;
    const last = items[items.length - 1]!;
    if (e.shiftKey && (document.activeElement === first || !box.current!.contains(document.activeElement))) {
      e.preventDefault();
      last.focus();
    } else if (!e.shiftKey && document.activeElement === last) {
      e.preventDefault();
      first.focus();
    }
  };
  const titleId = `dialog-${props.title.replace(/\W+/g, '-').toLowerCase()}`;
  // On the body, outside any form of the page (a dialog opened from a form field has its own controls).
  return createPortal(
    <div className="modal-backdrop" onMouseDown={(e) => e.target === e.currentTarget && props.onCancel()}>
      <div ref={box} className={`modal card${props.wide ? ' wide' : ''}`} role="dialog" aria-modal="true" aria-labelledby={titleId} aria-describedby={props.describedBy} tabIndex={-1} onKeyDown={onKeyDown}>
        <h2 id={titleId}>{props.title}</h2>
        {props.children}
      </div>
    </div>,
    document.body,
  );
}

/** A yes/no question before something that cannot be undone. */
export function ConfirmDialog(props: { title: string; body: React.ReactNode; confirm: string; danger?: boolean; busy?: boolean; onCancel(): void; onConfirm(): void }) {
  return (
    <Dialog title={props.title} onCancel={props.onCancel}>
      <div className="confirm-body">{props.body}</div>
      <div className="actions">
        <button onClick={props.onCancel} data-autofocus>
          Cancel
        </button>
        <button className={props.danger ? 'danger solid' : 'primary'} onClick={props.onConfirm} disabled={props.busy}>
          {props.confirm}
        </button>
      </div>
    </Dialog>
  );
}
