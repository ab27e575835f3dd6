//! A small PNG reader for checking browser screenshots: chunk CRCs, IHDR, zlib-inflated IDAT,
//! scanline filters; 8-bit RGB and RGBA, not interlaced (what Chromium writes).

use std::io::Read;

/// A decoded image, 4 bytes (RGBA) per pixel, rows top to bottom.
pub struct Image {
    pub width: u32,
    pub height: u32,
    pub rgba: Vec<u8>,
}

impl Image {
    /// The pixel at (x, y).
    pub fn pixel(&self, x: u32, y: u32) -> [u8; 4] {
        let i = ((y * self.width + x) * 4) as usize;
        self.rgba[i..i + 4].try_into().unwrap()
    }

    /// How many different colours the image has (capped at `cap`).
    pub fn distinct_colours(&self, cap: usize) -> usize {
        let mut seen = std::collections::HashSet::new();
        for p in self.rgba.chunks_exact(4) {
            seen.insert([p[0], p[1], p[2]]);
            if seen.len() >= cap {
                break;
            }
        }
        seen.len()
    }

    /// The most common colour (the background of a text box).
    pub fn dominant(&self) -> [u8; 3] {
        let mut counts = std::collections::HashMap::new();
        for p in self.rgba.chunks_exact(4) {
            *counts.entry([p[0], p[1], p[2]]).or_insert(0u32) += 1;
        }
        counts.into_iter().max_by_key(|(_, n)| *n).unwrap().0
    }

    /// "Ink": pixels far from `bg` (summed channel difference over `threshold`). Returns their
    /// count and the columns they span (first, last), if any.
    pub fn ink(&self, bg: [u8; 3], threshold: u32) -> (usize, Option<(u32, u32)>) {
        let mut count = 0;
        let mut span: Option<(u32, u32)> = None;
        for y in 0..self.height {
            for x in 0..self.width {
                let p = self.pixel(x, y);
                let d: u32 = (0..3)
                    .map(|c| (p[c] as i32 - bg[c] as i32).unsigned_abs())
                    .sum();
                if d > threshold {
                    count += 1;
                    span = Some(match span {
                        None => (x, x),
                        Some((a, b)) => (a.min(x), b.max(x)),
                    });
                }
            }
        }
        (count, span)
    }
}

/// Decodes a PNG file, checking its signature, every chunk's CRC and its end.
pub fn decode(data: &[u8]) -> Result<Image, String> {
    const SIG: &[u8] = b"\x89PNG\r\n\x1a\n";
    if !data.starts_with(SIG) {
        return Err("no PNG signature".into());
    }
    let mut pos = SIG.len();
    let (mut width, mut height, mut colour) = (0u32, 0u32, 0u8);
    let mut idat = Vec::new();
    let mut ended = false;
    while pos + 12 <= data.len() {
        let len = u32::from_be_bytes(data[pos..pos + 4].try_into().unwrap()) as usize;
        let kind = &data[pos + 4..pos + 8];
        let body_end = pos + 8 + len;
        if body_end + 4 > data.len() {
            return Err("truncated chunk".into());
        }
        let body = &data[pos + 8..body_end];
        let crc = u32::from_be_bytes(data[body_end..body_end + 4].try_into().unwrap());
        if crc32fast::hash(&data[pos + 4..body_end]) != crc {
            return Err(format!("bad CRC in {}", String::from_utf8_lossy(kind)));
        }
        match kind {
            b"IHDR" => {
                width = u32::from_be_bytes(body[0..4].try_into().unwrap());
                height = u32::from_be_bytes(body[4..8].try_into().unwrap());
                let (depth, interlace) = (body[8], body[12]);
                colour = body[9];
                if depth != 8 || interlace != 0 || !(colour == 2 || colour == 6) {
                    return Err(format!(
                        "unsupported PNG: depth {depth}, colour type {colour}, interlace {interlace}"
                    ));
                }
            }
            b"IDAT" => idat.extend_from_slice(body),
            b"IEND" => {
                ended = true;
                break;
            }
            _ => {}
        }
        pos = body_end + 4;
    }
    if !ended || width == 0 || height == 0 {
        return Err("no IHDR or IEND".into());
    }
    let mut raw = Vec::new();
    flate2::read::ZlibDecoder::new(&idat[..])
        .read_to_end(&mut raw)
        .map_err(|e| format!("IDAT does not inflate: {e}"))?;
    let bpp = if colour == 6 { 4 } else { 3 };
    let stride = width as usize * bpp;
    if raw.len() != (stride + 1) * height as usize {
        return Err(format!(
            "IDAT holds {} bytes, expected {}",
            raw.len(),
            (stride + 1) * height as usize
        ));
    }
    let mut prev = vec![0u8; stride];
    let mut rgba = Vec::with_capacity(width as usize * height as usize * 4);
    for row in raw.chunks_exact(stride + 1) {
        let (filter, line) = (row[0], &row[1..]);
        let mut cur = vec![0u8; stride];
        for i in 0..stride {
            let a = if i >= bpp { cur[i - bpp] as i32 } else { 0 };
            let b = prev[i] as i32;
            let c = if i >= bpp { prev[i - bpp] as i32 } else { 0 };
            let pred = match filter {
                0 => 0,
                1 => a,
                2 => b,
                3 => (a + b) / 2,
                4 => {
                    let p = a + b - c;
                    let (pa, pb, pc) = ((p - a).abs(), (p - b).abs(), (p - c).abs());
                    if pa <= pb && pa <= pc {
                        a
                    } else if pb <= pc {
                        b
                    } else {
                        c
                    }
                }
                f => return Err(format!("bad filter type {f}")),
            };
            cur[i] = line[i].wrapping_add(pred as u8);
        }
        for px in cur.chunks_exact(bpp) {
            rgba.extend_from_slice(&px[..3]);
            rgba.push(if bpp == 4 { px[3] } else { 255 });
        }
        prev = cur;
    }
    Ok(Image {
        width,
        height,
        rgba,
    })
}
