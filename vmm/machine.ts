// The emulated PC: guest RAM, the port bus, the CPU, the chipset devices and the virtual clock, and
// the run loop that interleaves guest execution with timer events. A PIC-only uniprocessor i440FX/PIIX3
// machine, booted either by direct kernel load (like QEMU -kernel) or from a BIOS image.

import { IoBus } from './bus.ts';
import { VirtualClock } from './clock.ts';
import { PhysicalMemory } from './memory.ts';
import { Cpu } from './cpu/cpu.ts';
import { CR0_PE } from './cpu/regs.ts';
import { setSegmentCache } from './cpu/segments.ts';
import { CS, DS, ES, FS, GS, SS } from './cpu/decode.ts';
import { TripleFault } from './cpu/fault.ts';
import { programMtrrsAsFirmware } from './cpu/mtrr.ts';
import type { BootEntry } from './boot/linux.ts';
import { loadKernel } from './boot/kernel.ts';
import { writeBiosDataArea } from './boot/bios-data-area.ts';
import type { BlockReply, Machine, MachineHost, MachineStats, RamRun, StateSection, VmConfig } from './machine-api.ts';
import { loadMachine, ramRuns, saveSections } from './state/machine-state.ts';
import { PcDevices } from './pc-devices.ts';
import { attachEngine } from './cpu/bt/attach.ts';
import type { BtEngine } from './cpu/bt/engine.ts';

/** Instructions between looks at the clock: ~0.2-0.5 ms of guest work at interpreter speed. */
const CHUNK = 16384;

/**
 * `hostMs`: the host's monotonic clock in ms, which guest time follows while the VM runs;
 * `wallMs`: the host's calendar time in ms since the epoch, read when the RTC is set at power-on and
 * reset (without one the RTC starts at 1970-01-01, as a PC with a flat CMOS battery). Both come from
 * the host: the VMM reads no host clock itself. `forRestore`: the machine is built to receive a
 * saved state, so its first power-on writes nothing into RAM.
 */
export function createMachine(
  config: VmConfig,
  host: MachineHost,
  hostMs: () => number,
  wallMs: () => number = () => 0,
  opts: { forRestore?: boolean } = {},
): Machine {
  return new PcMachine(config, host, hostMs, wallMs, opts.forRestore === true);
}

/**
 * A triple fault this soon after a reset means the guest cannot get going (a kernel that faults at
 * its first instructions, say): after RESET_LOOP_LIMIT of them in a row the machine stays shut down
 * instead of resetting. A BIOS's POST alone runs more than this.
 */
const QUICK_SHUTDOWN_INSNS = 1_000_000;
const RESET_LOOP_LIMIT = 3;

export class PcMachine implements Machine {
  readonly mem: PhysicalMemory;
  readonly io = new IoBus();
  readonly clock: VirtualClock;
  readonly cpu: Cpu;
  readonly devices: PcDevices;
  /** The translator, unless the VM runs on the interpreter alone. */
  readonly bt: BtEngine | null;
  private off = false;
  private resetPending = false;
  private poweredOn = false;
  /** Guest RAM is still as WebAssembly made it, all zero: a state load need not clear it. */
  ramUntouched = true;
  /** The guest stopped for good (HLT with IF clear) and the host has been told; cleared by a reset. */
  private stopReported = false;
  /** Triple faults in a row, each soon after the reset before it (QUICK_SHUTDOWN_INSNS). */
  private quickShutdowns = 0;
  private instructionsAtReset = 0;

  constructor(
    readonly config: VmConfig,
    readonly host: MachineHost,
    private readonly hostMs: () => number,
    readonly wallMs: () => number = () => 0,
    private readonly forRestore = false,
  ) {
    const mib = config.memoryMiB;
    if (!Number.isInteger(mib) || mib < 4 || mib > 3072)
      throw new Error(`memory size ${mib} MiB is not possible: use a whole number from 4 to 3072`);
    this.mem = new PhysicalMemory(mib * 1024 * 1024);
    this.clock = new VirtualClock(hostMs);
    this.cpu = new Cpu({ mem: this.mem, io: this.io, nowNs: () => this.clock.now(), pic: null });
    this.cpu.onShutdown = (detail) => {
      this.host.power('triple-fault', detail);
      const quick = this.cpu.instructions - this.instructionsAtReset < QUICK_SHUTDOWN_INSNS;
      this.quickShutdowns = quick ? this.quickShutdowns + 1 : 0;
      if (this.quickShutdowns >= RESET_LOOP_LIMIT) {
        // A PC would reset for ever; this one stays shut down and says so once (runSlice reports it
        // as stopped for good), rather than reset hundreds of times a second with a line each time.
        const within = QUICK_SHUTDOWN_INSNS.toLocaleString('en');
        this.host.log('warn', `the guest triple-faulted (${detail}) within ${within} instructions of each of its last ${RESET_LOOP_LIMIT} resets; it is left shut down: reset it or power it off`);
        return;
      }
      this.host.log('warn', `the guest triple-faulted (${detail}); resetting the machine`);
      this.resetPending = true;
      this.cpu.brk = true;
    };
    this.bt = attachEngine(this.cpu, config.engine, { hostMs });
    this.devices = new PcDevices(this);
    this.powerOn();
  }

  /** Loads firmware or the kernel and sets the CPU to its first instruction. */
  private powerOn(): void {
    this.cpu.reset();
    this.instructionsAtReset = this.cpu.instructions;
    this.devices.reset('power');
    // A new WebAssembly.Memory is already zero: filling it would only make the host commit every
    // page of guest RAM up front (seconds for a large guest, and all of it resident).
    if (this.poweredOn) this.mem.u8.fill(0);
    const restoring = this.forRestore && !this.poweredOn;
    this.poweredOn = true;
    this.cpu.invalidateAllCode();
    if (this.config.kernel) {
      // What a BIOS would have done first (shadow RAM, PCI interrupt routing), then its tables.
      this.devices.firmwareSetup();
      programMtrrsAsFirmware(this.cpu.mtrr, this.mem.size);
      // A saved state brings RAM and the CPU; a later reset of the guest loads the kernel again.
      if (restoring) return;
      this.ramUntouched = false;
      const acpi = this.devices.installFirmwareTables();
      writeBiosDataArea(this.mem, this.devices.uarts.map((u) => u.base));
      const entry = loadKernel(this.mem, this.config.kernel, {
        initrd: this.config.initrd,
        cmdline: this.config.cmdline ?? '',
        acpi,
      });
      this.enterBootEntry(entry);
    } else if (this.config.bios) {
      // The CPU starts at the reset vector in the BIOS flash; the BIOS sets up everything else.
      this.devices.loadBios(this.config.bios, this.config.vgaBios, { serialConsole: this.config.biosSerialConsole === true });
    } else {
      throw new Error('nothing to boot: give a kernel (--kernel) or a BIOS image');
    }
  }

  /** The 32-bit boot protocol's (or Multiboot's) entry state: flat segments from the loader's GDT, paging off, interrupts off. */
  private enterBootEntry(e: BootEntry): void {
    const cpu = this.cpu;
    cpu.gdtrBase = e.gdt.base;
    cpu.gdtrLimit = e.gdt.limit;
    cpu.cr0 |= CR0_PE;
    setSegmentCache(cpu, CS, e.cs, 0, 0xffffffff, 0xc09b);
    for (const s of [DS, ES, SS, FS, GS]) setSegmentCache(cpu, s, e.ds, 0, 0xffffffff, 0xc093);
    for (let s = 0; s < 6; s++) cpu.updateSegmentChecks(s);
    cpu.updateMode();
    cpu.r32.fill(0);
    cpu.r32[0] = e.eax ?? 0;
    cpu.r32[3] = e.ebx ?? 0;
    cpu.r32[6] = e.esi;
    cpu.eip = e.eip;
    cpu.setFlags(0x2);
  }

  runSlice(budgetMs: number): 'running' | 'halted' | 'off' {
    this.ramUntouched = false;
    if (this.off) return 'off';
    this.clock.resume();
    const end = this.hostMs() + budgetMs;
    for (;;) {
      this.clock.runDue();
      if (this.resetPending) this.doReset();
      if (this.off) return 'off';
      try {
        this.cpu.run(CHUNK);
      } catch (e) {
        if (e instanceof TripleFault) {
          this.cpu.onShutdown(e.message);
          continue;
        }
        throw e;
      }
      if (this.off) return 'off';
      if (this.cpu.halted && !this.resetPending) {
        this.clock.runDue();
        if (this.cpu.halted) {
          this.reportStop();
          return 'halted';
        }
      }
      if (this.hostMs() >= end) return 'running';
    }
  }

  /**
   * HLT with IF clear ends the guest for good: only NMI, SMI, INIT or RESET leave that state, and
   * so does a shutdown the machine leaves in place (a guest that triple-faults after every reset),
   * this PC has no NMI source, no SMM and no INIT IPI. Said once, so a user knows it will not go on.
   */
  private reportStop(): void {
    const cpu = this.cpu;
    if (this.stopReported || (!cpu.shutdown && (cpu.ifFlag || cpu.nmiPending))) return;
    this.stopReported = true;
    const cs = cpu.sel[CS]!.toString(16).padStart(4, '0');
    const eip = (cpu.prevEip >>> 0).toString(16).padStart(cpu.csD ? 8 : 4, '0');
    this.host.power('halted', `${cs}:${eip}`);
  }

  idleMs(): number {
    const next = this.clock.nextDeadline();
    if (next === Infinity) return Infinity;
    return Math.max(0, (next - this.clock.now()) / 1e6);
  }

  pause(): void {
    this.clock.pause();
  }

  resume(): void {
    this.clock.resume();
  }

  /** A hard reset request from the guest (keyboard controller, port 0x92, ACPI) or the user. */
  reset(): void {
    this.resetPending = true;
    this.cpu.brk = true;
  }

  powerButton(): void {
    this.devices.acpiPm.pressPowerButton();
  }

  private doReset(): void {
    this.resetPending = false;
    this.stopReported = false;
    this.host.power('reset');
    this.powerOn();
  }

  /** The guest turned itself off (ACPI S5). */
  powerOff(): void {
    if (this.off) return;
    this.off = true;
    this.cpu.brk = true;
    this.host.power('poweroff');
  }

  serialIn(port: number, bytes: Uint8Array): void {
    this.devices.serialIn(port, bytes);
  }

  keyboard(scancodes: readonly number[]): void {
    this.devices.keyboard(scancodes);
  }

  blockReply(reply: BlockReply): void {
    this.devices.blockReply(reply);
  }

  netIn(frame: Uint8Array): void {
    this.devices.nic?.receive(frame);
  }

  mouse(dx: number, dy: number, buttons: number, dz: number): void {
    this.devices.kbc.mouseInput(dx, dy, buttons, dz);
  }

  changeCdrom(sectors: number): boolean {
    return this.devices.ide.changeCdrom(sectors);
  }

  setLink(up: boolean): void {
    this.devices.nic?.setLink(up);
  }

  stats(): MachineStats {
    const nic = this.devices.nic;
    const base = { instructions: this.cpu.instructions, guestTimeNs: this.clock.now() };
    return nic ? { ...base, net: { ...nic.counters, link: nic.linkUp } } : base;
  }

  /** The next page prefault reads, and what the reads gave (kept, so the reads are not optimized away). */
  private prefaultAt = 0;
  private prefaultSum = 0;

  /**
   * Guest RAM is one WebAssembly.Memory; the host maps a page of it at its first access. A page the
   * guest never touched is mapped by the suspend's zero-page scan, and on a host where a page fault
   * is slow (a VM on a loaded host: 20-100 us each) that was most of a suspend's time. Reading one
   * word per page maps it (to the kernel's shared zero page: no memory is committed).
   */
  prefault(pages: number): boolean {
    const words = this.mem.i32;
    const total = this.mem.size / 4096;
    const end = Math.min(total, this.prefaultAt + pages);
    let sum = this.prefaultSum;
    for (let p = this.prefaultAt; p < end; p++) sum ^= words[p * 1024]!;
    this.prefaultSum = sum;
    this.prefaultAt = end;
    return end < total;
  }

  quiescent(): boolean {
    return !this.resetPending && !this.off && this.devices.ide.quiescent;
  }

  saveState(): { sections: StateSection[]; ram: Iterable<RamRun> } {
    if (!this.quiescent()) throw new Error('the machine is not between commands: it cannot be saved now');
    this.clock.pause();
    return { sections: saveSections(this), ram: ramRuns(this) };
  }

  loadState(sections: readonly StateSection[], ram: Iterable<RamRun>): void {
    this.clock.pause();
    loadMachine(this, sections, ram);
  }
}
