import { tightLoop, mixedWorkload } from './bench/cpu-loops.ts';
const t: number[] = [], m: number[] = [];
for (let k = 0; k < 5; k++) { t.push(tightLoop('interpreter').mips); m.push(mixedWorkload('interpreter', 4000).mips); }
console.log(`tight max ${Math.max(...t).toFixed(1)} mixed max ${Math.max(...m).toFixed(1)}`);
