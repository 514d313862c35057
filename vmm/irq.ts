// An interrupt request line as a device sees it. ISA devices drive edge-triggered lines by raising
// and lowering them; PCI devices hold a level until the driver acknowledges the cause.
export interface IrqLine {
  raise(): void;
  lower(): void;
}

/** Raise then lower: an ISA edge as the 8259 sees it when the line is programmed edge-triggered. */
export function pulse(line: IrqLine): void {
  line.raise();
  line.lower();
}

export const noIrq: IrqLine = { raise() {}, lower() {} };

/** What the CPU asks of an interrupt controller (8259A pair, later the APIC). */
export interface InterruptController {
  /** True while an unmasked request is waiting for the CPU (the INTR pin). */
  hasInterrupt(): boolean;
  /** The INTA cycle: returns the vector and moves the request into service. */
  acknowledge(): number;
}

/** An IrqLine that remembers its level and counts rising edges: what device tests observe. */
export class IrqProbe implements IrqLine {
  level = false;
  edges = 0;
  raise(): void {
    if (!this.level) this.edges++;
    this.level = true;
  }
  lower(): void {
    this.level = false;
  }
}
