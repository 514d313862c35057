// What a host-folder sync did (main/backends/host-folder/sync-summary.ts), one line per folder, then
// its conflicts and refusals. The lines quote file names the guest chose, which may hold anything a
// FAT long name can: a direction override (U+202E) would turn "report<RLO>fdp.exe" into
// "reportexe.pdf" and reverse the host's words after it, and control characters are invisible. Those
// are shown as \uXXXX escapes; React already keeps markup as text.
const INVISIBLE = /[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;

const visibleText = (s: string): string => s.replace(INVISIBLE, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);

export function FolderSyncNotes(props: { ok: boolean; lines: readonly string[] }) {
  return (
    <div className={props.ok ? 'banner-info folder-sync' : 'banner-error folder-sync'} role="status">
      {props.lines.map((l, i) => (
        <div key={i}>{visibleText(l)}</div>
      ))}
    </div>
  );
}
