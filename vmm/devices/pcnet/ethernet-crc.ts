// The IEEE 802.3 CRC-32 (polynomial 04C11DB7h, reflected, initial value and final complement all
// ones). The PCnet uses it twice: as the frame check sequence it appends to every received frame
// (a driver counts those 4 bytes in MCNT and drops them), and as the hash that picks a bit of the
// logical address filter for multicast addresses (the datasheet's "Logical Address Filter"
// section: the six most significant bits of the CRC of the destination address).

const TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

/** The CRC-32 of `data` as it goes on the wire (the FCS, least significant byte first). */
export function ethernetCrc(data: Uint8Array, start = 0, end = data.length): number {
  let c = 0xffffffff;
  for (let i = start; i < end; i++) c = TABLE[(c ^ data[i]!) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** Index 0-63 of the logical address filter bit a multicast destination address selects. */
export function ladrfIndex(frame: Uint8Array): number {
  // The six most significant bits of the CRC register after the address went through, before
  // the final complement (a driver builds its filter the same way).
  return ((ethernetCrc(frame, 0, 6) ^ 0xffffffff) >>> 26) & 0x3f;
}
