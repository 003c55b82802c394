// zip.js writes a ZIP archive of files the browser holds, so several files
// (or a dropped folder) become one bundle without a library. Entries are
// stored, not compressed: bundles are small and the coordinator accepts
// both. No ZIP64: an archive stays under 4 GiB and 65,535 entries.

let table = null;

function crcTable() {
  if (table) return table;
  table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
}

// crc32 is the CRC-32 (IEEE) of bytes, as ZIP records it.
export function crc32(bytes) {
  const t = crcTable();
  let c = 0xffffffff;
  for (let i = 0; i < bytes.length; i++) c = t[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function dosTime(ms) {
  const d = new Date(ms);
  const year = Math.max(1980, d.getFullYear());
  return {
    time: (d.getHours() << 11) | (d.getMinutes() << 5) | (d.getSeconds() >> 1),
    date: ((year - 1980) << 9) | ((d.getMonth() + 1) << 5) | d.getDate(),
  };
}

// zip returns a Blob of a stored ZIP holding entries [{path, file}], where
// path is relative with "/" separators.
export async function zip(entries) {
  if (entries.length > 0xffff) throw new Error(`${entries.length} files are too many for one bundle (at most 65,535)`);
  const enc = new TextEncoder();
  const parts = [];
  const central = [];
  let offset = 0;
  const seen = new Set();
  for (const { path, file } of entries) {
    if (seen.has(path)) throw new Error(`two files are both named "${path}": rename one, or zip them yourself`);
    seen.add(path);
    const name = enc.encode(path);
    const data = new Uint8Array(await file.arrayBuffer());
    const crc = crc32(data);
    const { time, date } = dosTime(file.lastModified || Date.now());
    if (offset + data.length + 30 + name.length > 0xffffffff) throw new Error('the files are over 4 GiB together: too large for one bundle');

    const local = new DataView(new ArrayBuffer(30));
    local.setUint32(0, 0x04034b50, true); // local file header
    local.setUint16(4, 20, true); // version needed: 2.0
    local.setUint16(6, 0x0800, true); // names are UTF-8
    local.setUint16(8, 0, true); // stored
    local.setUint16(10, time, true);
    local.setUint16(12, date, true);
    local.setUint32(14, crc, true);
    local.setUint32(18, data.length, true);
    local.setUint32(22, data.length, true);
    local.setUint16(26, name.length, true);
    local.setUint16(28, 0, true);
    parts.push(local, name, data);

    const cd = new DataView(new ArrayBuffer(46));
    cd.setUint32(0, 0x02014b50, true); // central directory header
    cd.setUint16(4, (3 << 8) | 20, true); // made by: Unix, 2.0
    cd.setUint16(6, 20, true);
    cd.setUint16(8, 0x0800, true);
    cd.setUint16(10, 0, true);
    cd.setUint16(12, time, true);
    cd.setUint16(14, date, true);
    cd.setUint32(16, crc, true);
    cd.setUint32(20, data.length, true);
    cd.setUint32(24, data.length, true);
    cd.setUint16(28, name.length, true);
    // extra, comment, disk number, internal attributes: 0
    // Browsers do not expose the executable bit; a file starting with "#!"
    // is a script meant to be run, so it gets rwxr-xr-x.
    const mode = data[0] === 0x23 && data[1] === 0x21 ? 0o100755 : 0o100644;
    cd.setUint32(38, (mode << 16) >>> 0, true);
    cd.setUint32(42, offset, true);
    central.push(cd, name);
    offset += 30 + name.length + data.length;
  }
  let cdSize = 0;
  for (const p of central) cdSize += p.byteLength;
  const end = new DataView(new ArrayBuffer(22));
  end.setUint32(0, 0x06054b50, true); // end of central directory
  end.setUint16(8, entries.length, true);
  end.setUint16(10, entries.length, true);
  end.setUint32(12, cdSize, true);
  end.setUint32(16, offset, true);
  return new Blob([...parts, ...central, end], { type: 'application/zip' });
}
