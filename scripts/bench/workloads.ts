// The benchmark's guest workloads. Each runs at the shell prompt of the Debian test guest and is
// bracketed by markers the guest prints, so the host times exactly the guest's work. The commands use
// only busybox applets present in the test initramfs.

export interface Workload {
  readonly name: string;
  readonly description: string;
  /** Shell command line run between the markers. */
  readonly command: string;
}

export const WORKLOADS: readonly Workload[] = [
  {
    name: 'hash',
    description: 'md5sum and sha256sum over 2 MiB of pseudo-random data in tmpfs',
    command: 'dd if=/dev/urandom of=/tmp/b bs=1024 count=2048 2>/dev/null; md5sum /tmp/b >/dev/null; sha256sum /tmp/b >/dev/null',
  },
  {
    name: 'compress',
    description: 'gzip -6 then gunzip of 1 MiB of text-like data',
    command: 'seq 1 150000 >/tmp/t; gzip -6 -c /tmp/t >/tmp/t.gz; gunzip -c /tmp/t.gz >/dev/null',
  },
  {
    name: 'shell-loop',
    description: '20000 iterations of arithmetic in the shell itself',
    command: 'i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done',
  },
  {
    name: 'fork-exec',
    description: '300 fork+exec of /bin/true',
    command: 'for i in $(seq 1 300); do /bin/true; done',
  },
  {
    name: 'syscall-copy',
    description: 'dd of 40000 512-byte blocks through read/write system calls',
    command: 'dd if=/dev/zero of=/dev/null bs=512 count=40000 2>/dev/null',
  },
];

/** The exact line the guest prints when a workload ends; unique per run so echoes don't match. */
export function markers(name: string, run: number): { start: string; end: string } {
  return { start: `BENCH-START-${name}-${run}`, end: `BENCH-END-${name}-${run}` };
}

/**
 * What the host types: print a start marker, run, print an end marker. The markers are built from
 * pieces in the shell (B=BENCH) so the terminal's echo of the typed line never matches them.
 */
export function commandLine(w: Workload, run: number): string {
  return `B=BENCH; echo $B-START-${w.name}-${run}; ${w.command}; echo $B-END-${w.name}-${run}\n`;
}
