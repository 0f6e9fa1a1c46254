//! Automatic garment masks for product photos on a plain background.
//!
//! The background is modelled from the image border as a colour plane (flat or a linear
//! gradient), or, for a studio backdrop with a vignette, a quadric fitted to the whole backdrop.
//! A pixel is then garment in three ways:
//! - clearly off the background in brightness (`strong`): what the VITON reference masks draw;
//! - faintly off it over a wide area (`body`): the cloth of a white garment, a few grey levels
//!   below a white background; thin faint areas (shadows, compression halos) are dropped;
//! - enclosed by the above or by edges (Canny): the pure-white inside of a white garment whose
//!   only trace is a faint shaded outline. Enclosed pockets of pure background (between a
//!   sleeve and the body) stay out.
//!
//! Defaults were tuned on VITON `train` garments (`examples/mask_eval.rs`).
//!
//! Shops often publish a garment cut out and set on one flat colour (not white: a white
//! backdrop is where highlights clip too). There the backdrop is that colour in every pixel
//! (within a level at worst), while even a white garment's highlights reach it only speckled
//! among pixels a level or two off; so the backdrop is the colour over solid patches, and a
//! white garment a few levels off it is still told apart ([`flat_backdrop`], [`cut_out_mask`]);
//! that mask joins the general one.

use image::{GrayImage, ImageBuffer, Luma, RgbImage};
use imageproc::distance_transform::Norm;
use imageproc::morphology::{dilate, erode, open};
use imageproc::region_labelling::{connected_components, Connectivity};

use super::image_io::PipelineError;

/// Tuning knobs of [`garment_mask_with`]; [`garment_mask`] uses the defaults.
#[derive(Debug, Clone, PartialEq)]
pub struct MaskParams {
    /// Gaussian sigma (pixels) against compression noise before colour comparisons.
    pub blur: f32,
    /// Grey levels (any channel, after the blur) a pixel must differ from the background to
    /// count as faintly off it.
    pub tol: u8,
    /// Brightness levels a pixel must differ from the background to be clearly garment.
    pub strong_tol: u8,
    /// Faint areas thinner than about twice this many pixels are shadows or halos.
    pub body_open: u8,
    /// Canny thresholds for the outlines that enclose white garments (0 high: no edges).
    pub canny_low: f32,
    pub canny_high: f32,
    /// Outline breaks narrower than about twice this many pixels still enclose.
    pub gap: u8,
    /// An enclosed region whose core is at least this share pure background, and smaller than
    /// `pocket_share` of the garment, is a pocket of background.
    pub pocket_pure: f32,
    pub pocket_share: f32,
    /// Separate parts at least this share of the largest one are kept (dark stripes whose
    /// white stripes match the background).
    pub keep_share: f32,
}

impl Default for MaskParams {
    fn default() -> Self {
        MaskParams {
            blur: 0.8,
            tol: 5,
            strong_tol: 16,
            body_open: 3,
            canny_low: 6.0,
            canny_high: 15.0,
            gap: 2,
            pocket_pure: 0.95,
            pocket_share: 0.1,
            keep_share: 0.02,
        }
    }
}

/// The version of [`garment_mask`]'s method, raised whenever its masks change: masks it made
/// and stored (a wardrobe's automatic masks) are made again by a newer one. 2: outlines drawn
/// at the photo's own pixels ([`refine_edge`]). 3: on a flat backdrop, the narrow channels
/// beside the sleeves are backdrop ([`without_bridged_backdrop`]). 4: light stripes the
/// backdrop's colour are garment ([`with_stripes_bridged`]), and separate parts at the photo's
/// edge are not ([`without_separate_parts_at_the_edge`]).
pub const MASK_METHOD: u32 = 4;

/// A 0/255 mask (255 = garment), the size of `image`, of a garment photographed on a plain
/// (white, light or uniform; flat or gently graded) background.
///
/// Fails on an empty image, and where nothing stands out from the background (a blank photo,
/// or a garment filling the whole frame).
pub fn garment_mask(image: &RgbImage) -> Result<GrayImage, PipelineError> {
    garment_mask_with(image, &MaskParams::default())
}

/// [`garment_mask`] with explicit tuning knobs.
pub fn garment_mask_with(image: &RgbImage, p: &MaskParams) -> Result<GrayImage, PipelineError> {
    let (w, h) = image.dimensions();
    if w == 0 || h == 0 {
        return Err(PipelineError::EmptyImage);
    }
    // A separate part at the photo's edge is not the garment: a strip of padding along it (a
    // product shot set on a white band at the bottom), a shadow or a prop cut off by the frame.
    masked(image, p).map(|mask| with_stripes_bridged(without_separate_parts_at_the_edge(mask)))
}

/// The largest 8-connected part of `mask` and the others that do not touch the photo's edge
/// (as [`without_parts_at_the_border`]), found by filling the parts span by span in a copy of
/// the mask: a label image of a 12-megapixel mask would take four bytes a pixel.
fn without_separate_parts_at_the_edge(mut mask: GrayImage) -> GrayImage {
    let (w, h) = (mask.width() as usize, mask.height() as usize);
    let mut parts: Vec<u8> = mask
        .as_raw()
        .iter()
        .map(|&v| if v == 0 { 0 } else { 255 })
        .collect();
    // (size, at the edge, a pixel of it) of every part; each filled with 1 as it is found.
    let mut found = Vec::new();
    for i in 0..w * h {
        if parts[i] == 255 {
            let (size, at_edge) = fill(&mut parts, (w, h), i, [255, 1], true);
            found.push((size, at_edge, i));
        }
    }
    let largest = (0..found.len()).max_by_key(|&k| found[k].0);
    for (k, &(_, at_edge, i)) in found.iter().enumerate() {
        if at_edge && Some(k) != largest {
            fill(&mut mask, (w, h), i, [255, 0], true);
        }
    }
    mask
}

/// Fills the region of `from` pixels around `start` with `to`, span by span: 8-connected with
/// `diagonal`, else 4-connected. Returns its size and whether it touches the edge of the `w` x
/// `h` picture.
fn fill(
    px: &mut [u8],
    (w, h): (usize, usize),
    start: usize,
    [from, to]: [u8; 2],
    diagonal: bool,
) -> (usize, bool) {
    debug_assert_ne!(from, to);
    let (mut size, mut at_edge) = (0, false);
    let mut seeds = vec![(start % w, start / w)];
    while let Some((x, y)) = seeds.pop() {
        if px[y * w + x] != from {
            continue;
        }
        let (mut l, mut r) = (x, x);
        while l > 0 && px[y * w + l - 1] == from {
            l -= 1;
        }
        while r + 1 < w && px[y * w + r + 1] == from {
            r += 1;
        }
        px[y * w + l..=y * w + r].fill(to);
        size += r - l + 1;
        at_edge |= y == 0 || y + 1 == h || l == 0 || r + 1 == w;
        // One seed per run in the rows above and below the span (a pixel wider each side where
        // diagonal neighbours count).
        let (x0, x1) = if diagonal {
            (l.saturating_sub(1), (r + 1).min(w - 1))
        } else {
            (l, r)
        };
        for ny in [y.wrapping_sub(1), y + 1].into_iter().filter(|&ny| ny < h) {
            let mut xx = x0;
            while xx <= x1 {
                if px[ny * w + xx] == from {
                    seeds.push((xx, ny));
                    while xx <= x1 && px[ny * w + xx] == from {
                        xx += 1;
                    }
                } else {
                    xx += 1;
                }
            }
        }
    }
    (size, at_edge)
}

/// [`garment_mask_with`] before its last two steps (the parts at the edge, the stripes).
fn masked(image: &RgbImage, p: &MaskParams) -> Result<GrayImage, PipelineError> {
    let (w, h) = image.dimensions();
    let general = general_mask(image, p);
    let Some(flat) = flat_backdrop(image) else {
        return general;
    };
    // On a flat backdrop the cut-out mask finds the white cloth that matches the backdrop
    // within the few levels the general mask needs; the general mask draws the outline more
    // tightly where it is visible. The union, with the cut-out mask drawn in by about half a
    // percent of the photo's size (its rim is at most that wide): the cloth from the one, the
    // outline from the other.
    let Ok(cut) = cut_out_mask_capped(image, flat, p.keep_share) else {
        return general;
    };
    let r = ((w.max(h) as f32 * 0.005).round() as u8).max(1);
    let cut = erode(&cut, Norm::LInf, r);
    let cut = match &general {
        Ok(g) => without_bridged_backdrop(image, flat, &cut, g),
        Err(_) => cut,
    };
    let joined = match general {
        Ok(g) => binary(w, h, |x, y| on(&g, x, y) || on(&cut, x, y)),
        Err(_) => cut,
    };
    // Beside a strong edge JPEG's ringing leaves whole 8x8 blocks off the backdrop's colour,
    // which the cut-out mask keeps (up to twice `r` out): where colour tells garment from
    // backdrop, the outline is drawn again at the photo's pixels.
    Ok(refine_edge(
        image,
        &joined,
        2.0 * f32::from(r),
        p.keep_share,
    ))
}

/// The mask for any plain background (see the module's description).
fn general_mask(image: &RgbImage, p: &MaskParams) -> Result<GrayImage, PipelineError> {
    use crate::resample::{resize, Filter};
    let (w, h) = image.dimensions();
    // The knobs are in pixels of a VITON-sized photo: much larger or smaller images are
    // masked at that scale, and the mask is scaled back.
    let long = w.max(h);
    if !(WORK_MIN..=WORK_MAX).contains(&long) {
        let scale = f64::from(WORK_LONG) / f64::from(long);
        let sw = ((f64::from(w) * scale).round() as u32).max(1);
        let sh = ((f64::from(h) * scale).round() as u32).max(1);
        let small = mask_at_scale(&resize(image, sw, sh, Filter::Triangle), p)?;
        let back = resize(&small, w, h, Filter::Triangle);
        let mask = binary(w, h, |x, y| back.get_pixel(x, y)[0] >= 128);
        let mask = refine_edge(image, &mask, (1.0 / scale) as f32, p.keep_share);
        // A speck at the working scale can vanish when scaled down to a tiny image.
        if mask.pixels().all(|px| px[0] == 0) {
            return Err(PipelineError::NoGarment);
        }
        return Ok(mask);
    }
    mask_at_scale(image, p)
}

/// Images with a longer side in this range are masked as they are; others at `WORK_LONG`.
const WORK_MIN: u32 = 160;
const WORK_MAX: u32 = 320;
const WORK_LONG: u32 = 256;

fn mask_at_scale(image: &RgbImage, p: &MaskParams) -> Result<GrayImage, PipelineError> {
    let (w, h) = image.dimensions();
    let blurred = if p.blur > 0.0 {
        imageproc::filter::gaussian_blur_f32(image, p.blur)
    } else {
        image.clone()
    };
    let bg = Background::fit(&blurred);
    let dev = GrayImage::from_fn(w, h, |x, y| {
        let px = blurred.get_pixel(x, y).0;
        let b = bg.at(x, y);
        Luma([(0..3).map(|c| px[c].abs_diff(b[c])).max().unwrap_or(0)])
    });
    let strong = binary(w, h, |x, y| {
        luma(image.get_pixel(x, y).0).abs_diff(luma(bg.at(x, y))) >= p.strong_tol
    });
    let faint = binary(w, h, |x, y| {
        dev.get_pixel(x, y)[0] > p.tol && !on(&strong, x, y)
    });
    // A graded backdrop also has shade its quadric does not follow (the sweep's curve, light
    // falling off faster at one side): faintly darker than the model and reaching the photo's
    // edge, where a garment's own shade (a sleeve's underside) does not.
    let faint = if bg.graded {
        let darker = binary(w, h, |x, y| {
            on(&faint, x, y) && luma(blurred.get_pixel(x, y).0) < luma(bg.at(x, y))
        });
        let shade = touching_border(&darker);
        binary(w, h, |x, y| on(&faint, x, y) && !on(&shade, x, y))
    } else {
        faint
    };
    let body = if p.body_open > 0 {
        open(&faint, Norm::L1, p.body_open)
    } else {
        faint
    };
    let base = binary(w, h, |x, y| on(&strong, x, y) || on(&body, x, y));
    // Edges close the garment for the hole filling but do not draw its boundary: an edge lies
    // half-way across the soft rim, outside where the garment clearly starts.
    let edges = if p.canny_high > 0.0 && w >= 3 && h >= 3 {
        let gray = image::imageops::grayscale(image);
        imageproc::edges::canny(&gray, p.canny_low, p.canny_high.max(p.canny_low))
    } else {
        GrayImage::new(w, h)
    };
    let outline = binary(w, h, |x, y| on(&base, x, y) || on(&edges, x, y));
    let tight = holes(&outline, 0);
    let bridged = if p.gap > 0 {
        holes(&outline, p.gap)
    } else {
        tight.clone()
    };
    let kept = keep_holes(&tight, &bridged, &outline, &dev, p);
    let inside = binary(w, h, |x, y| on(&outline, x, y) || on(&kept, x, y));
    let inner = erode(&inside, Norm::L1, 1);
    let fg = binary(w, h, |x, y| {
        on(&base, x, y) || on(&kept, x, y) || (on(&edges, x, y) && on(&inner, x, y))
    });
    let fg = main_components(&fg, p.keep_share);
    // What a graded backdrop's model misses is where it departs most from a quadric, at the
    // photo's edges: separate parts that touch them are backdrop.
    let fg = if bg.graded {
        without_parts_at_the_border(&fg)
    } else {
        fg
    };
    if fg.pixels().all(|px| px[0] == 0) {
        return Err(PipelineError::NoGarment);
    }
    Ok(fg)
}

/// How far (in each channel) a pixel may be from a flat backdrop's colour and still be it:
/// JPEG keeps a flat area within a level of its colour, and most shops' backdrops exactly on it.
const FLAT_TOL: u8 = 1;

/// A flat backdrop: a garment cut out and set on one uniform colour, as shops publish them.
#[derive(Debug, Clone, Copy)]
struct Flat {
    colour: [u8; 3],
    /// How far a backdrop pixel strays from `colour`: 0 where the border is the colour exactly
    /// (nearly always), else [`FLAT_TOL`]. The tighter, the better a white garment's highlights,
    /// a level or two off the shop's white point, are told apart.
    tol: u8,
}

impl Flat {
    /// Whether `px` is the backdrop's colour, to within its own tolerance.
    fn holds(&self, px: [u8; 3]) -> bool {
        self.within(px, self.tol)
    }

    /// Whether `px` is within [`FLAT_TOL`] of the backdrop's colour.
    fn near(&self, px: [u8; 3]) -> bool {
        self.within(px, FLAT_TOL)
    }

    fn within(&self, px: [u8; 3], tol: u8) -> bool {
        (0..3).all(|c| px[c].abs_diff(self.colour[c]) <= tol)
    }
}

/// The photo's flat backdrop, if it has one: its border is one colour to within [`FLAT_TOL`]
/// almost everywhere, and the colour is not white (in a photo on white the garment's highlights
/// clip to the same 255).
fn flat_backdrop(image: &RgbImage) -> Option<Flat> {
    let (w, h) = image.dimensions();
    if w < 3 || h < 3 {
        return None;
    }
    let border: Vec<[u8; 3]> = border_ring(w, h)
        .into_iter()
        .map(|(x, y)| image.get_pixel(x, y).0)
        .collect();
    let colour = [0, 1, 2].map(|c| {
        let mut v: Vec<u8> = border.iter().map(|b| b[c]).collect();
        v.sort_unstable();
        v[v.len() / 2]
    });
    let flat = Flat { colour, tol: 0 };
    let share =
        |tol| border.iter().filter(|b| flat.within(**b, tol)).count() as f32 / border.len() as f32;
    const MOSTLY: f32 = 0.97;
    if colour.iter().any(|&v| v >= 250) || share(FLAT_TOL) < MOSTLY {
        return None;
    }
    let tol = if share(0) >= MOSTLY { 0 } else { FLAT_TOL };
    Some(Flat { tol, ..flat })
}

/// The cut-out mask's passes at the photo's own pixels stop at this many along the longer side.
const CUT_OUT_LONG: u32 = 1024;

/// The size a `w` x `h` photo is sampled down to for the cut-out mask's passes, or `None` when
/// it is small enough to be used as it is.
fn cut_out_size(w: u32, h: u32) -> Option<(u32, u32)> {
    if w.max(h) <= CUT_OUT_LONG {
        return None;
    }
    let scale = f64::from(CUT_OUT_LONG) / f64::from(w.max(h));
    let sw = ((f64::from(w) * scale).round() as u32).max(1);
    let sh = ((f64::from(h) * scale).round() as u32).max(1);
    Some((sw, sh))
}

/// [`cut_out_mask`] on at most `CUT_OUT_LONG` pixels along the longer side: a larger photo is
/// sampled (nearest pixels, which keep the backdrop's exact colour) and the mask scaled back.
fn cut_out_mask_capped(
    image: &RgbImage,
    flat: Flat,
    keep_share: f32,
) -> Result<GrayImage, PipelineError> {
    use image::imageops::{resize, FilterType};
    let (w, h) = image.dimensions();
    let Some((sw, sh)) = cut_out_size(w, h) else {
        return cut_out_mask(image, flat, keep_share);
    };
    let small = cut_out_mask(
        &resize(image, sw, sh, FilterType::Nearest),
        flat,
        keep_share,
    )?;
    let back = crate::resample::resize(&small, w, h, crate::resample::Filter::Triangle);
    // Its staircase is drawn again with the joined mask's outline (`garment_mask_with`).
    Ok(binary(w, h, |x, y| back.get_pixel(x, y)[0] >= 128))
}

/// Garment and backdrop must differ by at least this (Euclidean, in levels) for
/// [`refine_edge`] to place an edge between them.
const EDGE_CONTRAST: f32 = 24.0;

/// [`refine_edge`] keeps the coarse outline where more than this share of the garment nearby
/// would be called backdrop by colour (white stripes on a white backdrop).
const MAX_BACKDROP_LIKE: f64 = 0.02;

/// A mask's outline drawn again at the photo's own pixels, where it may lie up to `reach`
/// pixels from the garment's edge: a mask made at a coarser scale (`reach` photo pixels per
/// mask pixel; scaled back, its outline is a staircase of that step, up to a coarse pixel out
/// on the backdrop, as the blur the coarse mask needs spreads the garment's edge), or one that
/// keeps JPEG's blocks of ringing beside the edge. Composed at high resolution, such a rim
/// showed as a light, dotted outline along the garment. Near the outline (`reach` pixels and
/// one more either side) each pixel is given to the garment or the backdrop
/// by where its colour lies between the two colours around it (the means of what is surely
/// garment and surely backdrop nearby): an anti-aliased edge is cut where it is half garment.
/// Where colour cannot tell the two apart, the outline stays: garment and backdrop too alike
/// (a white garment on white), or garment nearby that has the backdrop's colour (white stripes
/// on white). The core of a wide rim can be left as an island of backdrop: parts smaller than
/// `keep_share` of the largest are dropped (see [`main_components`]).
///
/// The colours are found on cells of `reach` pixels and the islands on squares of a quarter of
/// that, so a phone photo of a garment costs a few passes over its pixels.
fn refine_edge(image: &RgbImage, mask: &GrayImage, reach: f32, keep_share: f32) -> GrayImage {
    if reach < 1.5 {
        return mask.clone();
    }
    let (w, h) = mask.dimensions();
    // Near the outline: within a pixel more than `reach` of it. Surely garment (inside) and
    // surely backdrop: the rest.
    // (A band wider than the morphology's radius allows cannot occur below 100 megapixels.)
    let band = reach.ceil().min(254.0) as u8 + 1;
    let inside = erode(mask, Norm::LInf, band);
    let near_of = dilate(mask, Norm::LInf, band);
    let near = |x: u32, y: u32| on(&near_of, x, y) && !on(&inside, x, y);
    let cells = Cells::new(w, h, reach.ceil() as u32);
    let at = |x: u32, y: u32| cells.index(x, y);
    // Per cell: garment count and colour sums, backdrop count and colour sums, of the sure
    // pixels.
    let mut sums = vec![[0f64; 8]; cells.len()];
    for (x, y, px) in image.enumerate_pixels() {
        if near(x, y) {
            continue;
        }
        let k = if on(mask, x, y) { 0 } else { 4 };
        let s = &mut sums[at(x, y)];
        s[k] += 1.0;
        for c in 0..3 {
            s[k + 1 + c] += f64::from(px[c]);
        }
    }
    let colours: Vec<Option<([f32; 3], [f32; 3])>> = cells
        .windowed(&sums)
        .into_iter()
        .map(|s| {
            if s[0] < 1.0 || s[4] < 1.0 {
                return None;
            }
            let garment = [0, 1, 2].map(|c| (s[1 + c] / s[0]) as f32);
            let backdrop = [0, 1, 2].map(|c| (s[5 + c] / s[4]) as f32);
            let d: f32 = (0..3).map(|c| (garment[c] - backdrop[c]).powi(2)).sum();
            (d >= EDGE_CONTRAST * EDGE_CONTRAST).then_some((garment, backdrop))
        })
        .collect();
    // Whether a colour is more garment than backdrop between the two.
    let is_garment = |px: [u8; 3], (garment, backdrop): ([f32; 3], [f32; 3])| {
        let d: [f32; 3] = std::array::from_fn(|c| garment[c] - backdrop[c]);
        let along: f32 = (0..3)
            .map(|c| (f32::from(px[c]) - backdrop[c]) * d[c])
            .sum();
        along >= 0.5 * d.iter().map(|v| v * v).sum::<f32>()
    };
    // Per cell: sure garment pixels, and those the colours call backdrop.
    let mut unlike = vec![[0f64; 2]; cells.len()];
    for (x, y, px) in image.enumerate_pixels() {
        if !on(&inside, x, y) {
            continue;
        }
        let i = at(x, y);
        if let Some(pair) = colours[i] {
            unlike[i][0] += 1.0;
            unlike[i][1] += f64::from(u8::from(!is_garment(px.0, pair)));
        }
    }
    // Reliable where the garment nearby was seen (a cell's worth of it at least) and is all
    // but never taken for backdrop.
    let seen = f64::from(cells.size * cells.size);
    let reliable: Vec<Option<([f32; 3], [f32; 3])>> = cells
        .windowed(&unlike)
        .into_iter()
        .zip(&colours)
        .map(|(u, &pair)| pair.filter(|_| u[0] >= seen && u[1] <= MAX_BACKDROP_LIKE * u[0]))
        .collect();
    let mut refined = binary(w, h, |x, y| {
        match reliable[at(x, y)].filter(|_| near(x, y)) {
            Some(pair) => is_garment(image.get_pixel(x, y).0, pair),
            None => on(mask, x, y),
        }
    });
    // Islands, on a grid of a quarter of `reach` (what the band's carving leaves between an
    // island and the garment is wider): parts of the grid's squares holding garment,
    // 8-connected, smaller than `keep_share` of the largest, are dropped.
    let cells = Cells::new(w, h, (reach / 4.0).max(1.0) as u32);
    let at = |x: u32, y: u32| cells.index(x, y);
    let mut area = vec![0u64; cells.len()];
    for (x, y, m) in refined.enumerate_pixels() {
        area[at(x, y)] += u64::from(m[0] != 0);
    }
    let mut part = vec![usize::MAX; cells.len()];
    let mut sizes: Vec<u64> = Vec::new();
    for start in 0..cells.len() {
        if area[start] == 0 || part[start] != usize::MAX {
            continue;
        }
        let (label, mut size, mut stack) = (sizes.len(), 0, vec![start]);
        part[start] = label;
        while let Some(i) = stack.pop() {
            size += area[i];
            for j in cells.around(i, 1) {
                if area[j] > 0 && part[j] == usize::MAX {
                    part[j] = label;
                    stack.push(j);
                }
            }
        }
        sizes.push(size);
    }
    let largest = sizes.iter().copied().max().unwrap_or(0);
    let min = (largest as f64 * f64::from(keep_share)).ceil() as u64;
    if sizes.iter().any(|&s| s < min) {
        for (x, y, m) in refined.enumerate_pixels_mut() {
            let label = part[at(x, y)];
            if label != usize::MAX && sizes[label] < min {
                m[0] = 0;
            }
        }
    }
    refined
}

/// A photo divided into square cells, for sums over windows of cells.
struct Cells {
    size: u32,
    columns: usize,
    rows: usize,
}

impl Cells {
    /// Windows reach this many cells either side of their cell.
    const REACH: usize = 3;

    fn new(w: u32, h: u32, size: u32) -> Self {
        Cells {
            size,
            columns: w.div_ceil(size) as usize,
            rows: h.div_ceil(size) as usize,
        }
    }

    fn len(&self) -> usize {
        self.columns * self.rows
    }

    fn index(&self, x: u32, y: u32) -> usize {
        (y / self.size) as usize * self.columns + (x / self.size) as usize
    }

    /// The cells within `r` cells of cell `i` (itself included).
    fn around(&self, i: usize, r: usize) -> impl Iterator<Item = usize> + '_ {
        let (cx, cy) = (i % self.columns, i / self.columns);
        let (x0, x1) = (cx.saturating_sub(r), (cx + r + 1).min(self.columns));
        let (y0, y1) = (cy.saturating_sub(r), (cy + r + 1).min(self.rows));
        (y0..y1).flat_map(move |y| (x0..x1).map(move |x| y * self.columns + x))
    }

    /// Per cell, the sums of `values` over the cells within [`Self::REACH`] of it (a summed-area
    /// table of the cells).
    fn windowed<const N: usize>(&self, values: &[[f64; N]]) -> Vec<[f64; N]> {
        let (cw, ch) = (self.columns, self.rows);
        let mut table = vec![[0f64; N]; (cw + 1) * (ch + 1)];
        for cy in 0..ch {
            for cx in 0..cw {
                let i = (cy + 1) * (cw + 1) + cx + 1;
                for k in 0..N {
                    table[i][k] = values[cy * cw + cx][k] + table[i - 1][k] + table[i - cw - 1][k]
                        - table[i - cw - 2][k];
                }
            }
        }
        let r = Self::REACH;
        (0..cw * ch)
            .map(|i| {
                let (cx, cy) = (i % cw, i / cw);
                let (x0, y0) = (cx.saturating_sub(r), cy.saturating_sub(r));
                let (x1, y1) = ((cx + r + 1).min(cw), (cy + r + 1).min(ch));
                let t = |x: usize, y: usize| &table[y * (cw + 1) + x];
                std::array::from_fn(|k| t(x1, y1)[k] - t(x0, y1)[k] - t(x1, y0)[k] + t(x0, y0)[k])
            })
            .collect()
    }
}

/// The mask of a garment on a flat backdrop, at the photo's own resolution (resampling would
/// blur the exactness that tells the two apart): what is not the backdrop, closed over its
/// outline's breaks, with what that encloses, except pockets of backdrop (between a sleeve and
/// the body). The backdrop is its colour in every pixel; a white garment's highlights near the
/// shop's white point hit the colour only pixel by pixel, speckled among pixels a level or two
/// off, so the backdrop is the colour over whole patches (`SOLID` pixels wide). Highlights that
/// still hold such patches open notches from the outline inwards, which the closing (over about
/// 1.5% of the photo's size) bridges; the wider gap between a sleeve and the body stays.
fn cut_out_mask(image: &RgbImage, flat: Flat, keep_share: f32) -> Result<GrayImage, PipelineError> {
    /// The backdrop's patches are at least this many pixels wide (an odd number).
    const SOLID: u8 = 5;
    let (w, h) = image.dimensions();
    let colour = flat.colour;
    let exact = binary(w, h, |x, y| flat.holds(image.get_pixel(x, y).0));
    // JPEG leaves single pixels a level off in the backdrop, most often near the garment;
    // one whose neighbours are nearly all exact is backdrop too (a highlight's speckle is not).
    let exact = binary(w, h, |x, y| {
        let px = image.get_pixel(x, y).0;
        on(&exact, x, y) || (flat.near(px) && neighbours(&exact, x, y) >= 6)
    });
    let backdrop = open(&exact, Norm::LInf, SOLID / 2);
    let cloth = binary(w, h, |x, y| !on(&backdrop, x, y));
    // JPEG specks in the backdrop are thin: an opening removes them before the components.
    let cloth = main_components(&open(&cloth, Norm::LInf, 1), keep_share);
    let r = ((w.max(h) as f32 * 0.006).round() as u8).max(1);
    let closed = imageproc::morphology::close(&cloth, Norm::L2, r);
    let enclosed = holes(&closed, 0);
    // An enclosed region holding a good deal of backdrop is a pocket of it (between a sleeve and
    // the body), unless it is a highlight; one with little (what the closing enclosed) is garment.
    let regions = Regions::of(&enclosed, Connectivity::Four);
    let mut solid = vec![0usize; regions.size.len()];
    for (x, y, l) in regions.labels.enumerate_pixels() {
        solid[l[0] as usize] += usize::from(on(&backdrop, x, y));
    }
    let pocket = (w as usize * h as usize) / 400;
    let ring = highlight_ring(w, h);
    let pockets =
        regions.keep(|l| solid[l] >= pocket && !is_highlight(image, flat, &regions, l, ring));
    let fg = binary(w, h, |x, y| {
        on(&closed, x, y) || (on(&enclosed, x, y) && !on(&pockets, x, y))
    });
    // The rim: JPEG ringing and the cut-out's soft edge leave a band of near-backdrop pixels,
    // a few levels off, around the garment. Pixels within `RIM_TOL` of the backdrop and within
    // about 1% of the photo's size of the outside, reached from it through such pixels, are
    // backdrop too.
    const RIM_TOL: u8 = 3;
    let band = dilate(&binary(w, h, |x, y| !on(&fg, x, y)), Norm::LInf, r);
    let open_way = binary(w, h, |x, y| {
        !on(&fg, x, y)
            || (on(&band, x, y)
                && (0..3).all(|c| image.get_pixel(x, y)[c].abs_diff(colour[c]) <= RIM_TOL))
    });
    let rim = touching_border(&open_way);
    let fg = binary(w, h, |x, y| on(&fg, x, y) && !on(&rim, x, y));
    let fg = main_components(&open(&fg, Norm::LInf, 1), keep_share);
    if fg.pixels().all(|px| px[0] == 0) {
        return Err(PipelineError::NoGarment);
    }
    Ok(fg)
}

/// A region the cut-out mask takes in and the general mask leaves out is backdrop where at
/// least `BRIDGED_SHARE` of its pixels are within `BRIDGED_TOL` levels of the backdrop's
/// colour (the channels beside the sleeves of the real product shots: 60-75%; the cloth of a
/// white garment, which the general mask can miss, lies a few levels below it).
const BRIDGED_TOL: u8 = 2;
const BRIDGED_SHARE: f32 = 0.5;
/// Such regions with fewer pixels than this are left as they are.
const BRIDGED_MIN: usize = 25;

/// The cut-out mask `cut` (drawn in past its rim) without the backdrop its closing bridged: a
/// narrow channel between a long sleeve and the body, closed where it narrows, where the
/// general mask (`general`, made from brightness and edges) sees the backdrop it is. Taken out
/// are the parts of `cut` outside `general` that are mostly the backdrop's colour and no
/// highlight (see [`is_highlight`]); where the two masks disagree otherwise, the garment wins.
/// Found on at most [`CUT_OUT_LONG`] pixels along the longer side (nearest pixels, which keep
/// the backdrop's exact colour): the outline is drawn again at the photo's pixels after.
fn without_bridged_backdrop(
    image: &RgbImage,
    flat: Flat,
    cut: &GrayImage,
    general: &GrayImage,
) -> GrayImage {
    let (w, h) = cut.dimensions();
    let Some((sw, sh)) = cut_out_size(w, h) else {
        let channels = bridged_backdrop(image, flat, cut, general);
        return binary(w, h, |x, y| on(cut, x, y) && !on(&channels, x, y));
    };
    // The nearest pixel along one axis of `n` pixels to each of `m` pixels spanning the same.
    let nearest = |n: u32, m: u32| -> Vec<u32> {
        (0..m)
            .map(|i| ((u64::from(i) * u64::from(n) + u64::from(n) / 2) / u64::from(m)) as u32)
            .map(|i| i.min(n - 1))
            .collect()
    };
    let (cols, rows) = (nearest(w, sw), nearest(h, sh));
    let small = |m: &GrayImage| {
        GrayImage::from_fn(sw, sh, |x, y| {
            *m.get_pixel(cols[x as usize], rows[y as usize])
        })
    };
    let channels = bridged_backdrop(
        &RgbImage::from_fn(sw, sh, |x, y| {
            *image.get_pixel(cols[x as usize], rows[y as usize])
        }),
        flat,
        &small(cut),
        &small(general),
    );
    let (back_cols, back_rows) = (nearest(sw, w), nearest(sh, h));
    binary(w, h, |x, y| {
        on(cut, x, y) && !on(&channels, back_cols[x as usize], back_rows[y as usize])
    })
}

/// The regions [`without_bridged_backdrop`] takes out of `cut`.
fn bridged_backdrop(
    image: &RgbImage,
    flat: Flat,
    cut: &GrayImage,
    general: &GrayImage,
) -> GrayImage {
    let (w, h) = cut.dimensions();
    let disputed = binary(w, h, |x, y| on(cut, x, y) && !on(general, x, y));
    let regions = Regions::of(&disputed, Connectivity::Eight);
    let mut near = vec![0usize; regions.size.len()];
    for (x, y, l) in regions.labels.enumerate_pixels() {
        near[l[0] as usize] += usize::from(flat.within(image.get_pixel(x, y).0, BRIDGED_TOL));
    }
    let ring = highlight_ring(w, h);
    regions.keep(|l| {
        regions.size[l] >= BRIDGED_MIN
            && near[l] as f32 >= BRIDGED_SHARE * regions.size[l] as f32
            && !is_highlight(image, flat, &regions, l, ring)
    })
}

/// How wide a ring [`is_highlight`] looks at around a region of a `w` x `h` mask: about 1% of
/// its size.
fn highlight_ring(w: u32, h: u32) -> u8 {
    ((w.max(h) as f32 * 0.01).round() as u8).max(1)
}

/// Whether the enclosed region `label` is a white garment's highlight clipped to the backdrop's
/// colour rather than a pocket of backdrop: a highlight fades into cloth within a level of the
/// colour all around it, while a pocket ends at the garment's outline, past which the cloth
/// departs from the colour at once. Decided on the ring `ring` pixels wide around the region.
fn is_highlight(image: &RgbImage, flat: Flat, regions: &Regions, label: usize, ring: u8) -> bool {
    let (w, h) = image.dimensions();
    // Only the region's box, grown by the ring, is looked at.
    let [x0, y0, x1, y1] = regions.bounds[label];
    let r = u32::from(ring);
    let (x0, y0) = (x0.saturating_sub(r), y0.saturating_sub(r));
    let (x1, y1) = ((x1 + r).min(w - 1), (y1 + r).min(h - 1));
    let region = binary(x1 - x0 + 1, y1 - y0 + 1, |x, y| {
        regions.label(x0 + x, y0 + y) == label
    });
    let around = dilate(&region, Norm::LInf, ring);
    let (mut all, mut close) = (0usize, 0usize);
    for (x, y, _) in around.enumerate_pixels().filter(|p| p.2[0] != 0) {
        if !on(&region, x, y) {
            all += 1;
            close += usize::from(flat.near(image.get_pixel(x0 + x, y0 + y).0));
        }
    }
    2 * close > all
}

/// How many of the 8 neighbours of (x, y) are on (outside the image counts as on).
fn neighbours(mask: &GrayImage, x: u32, y: u32) -> usize {
    let (w, h) = mask.dimensions();
    let (x, y) = (i64::from(x), i64::from(y));
    let mut n = 0;
    for v in y - 1..=y + 1 {
        for u in x - 1..=x + 1 {
            let outside = u < 0 || v < 0 || u >= i64::from(w) || v >= i64::from(h);
            n += usize::from((u, v) != (x, y) && (outside || on(mask, u as u32, v as u32)));
        }
    }
    n
}

fn binary(w: u32, h: u32, f: impl Fn(u32, u32) -> bool) -> GrayImage {
    GrayImage::from_fn(w, h, |x, y| Luma([if f(x, y) { 255 } else { 0 }]))
}

fn on(mask: &GrayImage, x: u32, y: u32) -> bool {
    mask.get_pixel(x, y)[0] != 0
}

fn luma(c: [u8; 3]) -> u8 {
    ((299 * u32::from(c[0]) + 587 * u32::from(c[1]) + 114 * u32::from(c[2]) + 500) / 1000) as u8
}

/// The background as a colour plane `a + b x + c y` per channel, fitted to the border pixels
/// that agree with it (a garment cut off by the frame is left out of the fit). A backdrop
/// graded unevenly (a studio's vignette: darker corners, a bright middle the border never
/// shows) is a quadric instead, fitted to every pixel that agrees with it.
struct Background {
    /// Per channel: 1, x, y, x², xy, y² (coordinates in units of [`Background::UNIT`] pixels).
    coef: [[f32; 6]; 3],
    /// Whether the backdrop is graded (a quadric).
    graded: bool,
}

impl Background {
    /// Border pixels further than this from the model are not background.
    const OUTLIER: f32 = 12.0;
    /// A backdrop is graded where its border departs from a plane by more than this (the
    /// median distance of its inliers, in levels)...
    const GRADED: f32 = 2.0;
    /// ... while being nearly all backdrop (this share of the border agrees with the plane: a
    /// garment filling the frame makes its own border)...
    const GRADED_SHARE: f32 = 0.9;
    /// ... and smooth: neighbouring border pixels differ by at most this (90th percentile, in
    /// levels, after the blur), which a fabric's weave or print does not.
    const GRADED_STEP: u8 = 1;
    /// Pixels within this many levels of the quadric (in every channel) are backdrop for its
    /// next fit: tight enough to leave out a white garment a dozen levels brighter.
    const QUADRIC_TOLERANCE: f32 = 6.0;
    /// Coordinates are scaled by this for well-conditioned normal equations.
    const UNIT: f32 = 256.0;

    fn fit(image: &RgbImage) -> Self {
        let (w, h) = image.dimensions();
        let border: Vec<(f32, f32, [u8; 3])> = border_ring(w, h)
            .into_iter()
            .map(|(x, y)| (x as f32, y as f32, image.get_pixel(x, y).0))
            .collect();
        // Start flat at the median, robust to a garment covering part of the border.
        let mut model = Background {
            coef: [0, 1, 2].map(|c| {
                let mut v: Vec<u8> = border.iter().map(|b| b.2[c]).collect();
                v.sort_unstable();
                let mut k = [0.0; 6];
                k[0] = f32::from(v.get(v.len() / 2).copied().unwrap_or(255));
                k
            }),
            graded: false,
        };
        let mut inliers: Vec<&(f32, f32, [u8; 3])> = Vec::new();
        for _ in 0..3 {
            inliers = border
                .iter()
                .filter(|p| model.distance(p) <= Self::OUTLIER)
                .collect();
            match least_squares(&inliers, 3) {
                Some(coef) => model.coef = coef,
                None => break,
            }
        }
        if !Self::is_graded(&model, &inliers, &border) {
            return model;
        }
        // A quadric through the border's inliers, then through every pixel it explains.
        let Some(coef) = least_squares(&inliers, 6) else {
            return model;
        };
        model.coef = coef;
        model.graded = true;
        let pixels: Vec<(f32, f32, [u8; 3])> = image
            .enumerate_pixels()
            .map(|(x, y, px)| (x as f32, y as f32, px.0))
            .collect();
        for _ in 0..4 {
            let backdrop: Vec<&(f32, f32, [u8; 3])> = pixels
                .iter()
                .filter(|p| model.distance(p) <= Self::QUADRIC_TOLERANCE)
                .collect();
            match least_squares(&backdrop, 6) {
                Some(coef) => model.coef = coef,
                None => break,
            }
        }
        model
    }

    /// Whether a backdrop whose border (in order around the image) this plane fits is graded
    /// (see [`Self::GRADED`]).
    fn is_graded(
        plane: &Self,
        inliers: &[&(f32, f32, [u8; 3])],
        border: &[(f32, f32, [u8; 3])],
    ) -> bool {
        if (inliers.len() as f32) < Self::GRADED_SHARE * border.len() as f32 {
            return false;
        }
        let mut distances: Vec<f32> = inliers.iter().map(|p| plane.distance(p)).collect();
        distances.sort_unstable_by(f32::total_cmp);
        if distances[distances.len() / 2] <= Self::GRADED {
            return false;
        }
        let mut steps: Vec<u8> = border
            .iter()
            .zip(border.iter().cycle().skip(1))
            .map(|(a, b)| (0..3).map(|c| a.2[c].abs_diff(b.2[c])).max().unwrap_or(0))
            .collect();
        steps.sort_unstable();
        steps
            .get(steps.len() * 9 / 10)
            .is_some_and(|&s| s <= Self::GRADED_STEP)
    }

    /// The largest difference of a pixel's channels from the model.
    fn distance(&self, &(x, y, px): &(f32, f32, [u8; 3])) -> f32 {
        let m = self.eval(x, y);
        (0..3)
            .map(|c| (f32::from(px[c]) - m[c]).abs())
            .fold(0.0, f32::max)
    }

    fn eval(&self, x: f32, y: f32) -> [f32; 3] {
        let t = terms(x, y);
        self.coef
            .map(|k| k.iter().zip(&t).map(|(a, b)| a * b).sum::<f32>())
    }

    fn at(&self, x: u32, y: u32) -> [u8; 3] {
        self.eval(x as f32, y as f32)
            .map(|v| v.round().clamp(0.0, 255.0) as u8)
    }
}

/// The image border's pixels in order around it, each once.
fn border_ring(w: u32, h: u32) -> Vec<(u32, u32)> {
    if w < 2 || h < 2 {
        return (0..h).flat_map(|y| (0..w).map(move |x| (x, y))).collect();
    }
    let top = (0..w).map(|x| (x, 0));
    let right = (1..h).map(|y| (w - 1, y));
    let bottom = (0..w - 1).rev().map(|x| (x, h - 1));
    let left = (1..h - 1).rev().map(|y| (0, y));
    top.chain(right).chain(bottom).chain(left).collect()
}

/// The terms of the background model at a pixel: 1, x, y, x², xy, y² (scaled).
fn terms(x: f32, y: f32) -> [f32; 6] {
    let (u, v) = (x / Background::UNIT, y / Background::UNIT);
    [1.0, u, v, u * u, u * v, v * v]
}

/// Least-squares coefficients of the first `n` [`terms`] (3: a plane, 6: a quadric) through
/// `points`, per channel; `None` where they do not determine them (too few points, or all on
/// a line).
fn least_squares(points: &[&(f32, f32, [u8; 3])], n: usize) -> Option<[[f32; 6]; 3]> {
    if points.len() < 2 * n {
        return None;
    }
    // Normal equations in f64, with the three channels as three right-hand sides.
    let mut a = [[0f64; 6]; 6];
    let mut rhs = [[0f64; 3]; 6];
    for &&(x, y, px) in points {
        let t = terms(x, y).map(f64::from);
        for i in 0..n {
            for j in 0..n {
                a[i][j] += t[i] * t[j];
            }
            for c in 0..3 {
                rhs[i][c] += t[i] * f64::from(px[c]);
            }
        }
    }
    // Gaussian elimination with partial pivoting.
    let scale = (0..n).map(|i| a[i][i]).fold(0.0, f64::max).max(1e-12);
    for col in 0..n {
        let pivot = (col..n).max_by(|&i, &j| a[i][col].abs().total_cmp(&a[j][col].abs()))?;
        if a[pivot][col].abs() < 1e-9 * scale {
            return None;
        }
        a.swap(col, pivot);
        rhs.swap(col, pivot);
        let (pivot_row, pivot_rhs) = (a[col], rhs[col]);
        for (row, (a_row, rhs_row)) in a.iter_mut().zip(rhs.iter_mut()).enumerate().take(n) {
            if row != col {
                let f = a_row[col] / pivot_row[col];
                for (v, p) in a_row[col..n].iter_mut().zip(&pivot_row[col..n]) {
                    *v -= f * p;
                }
                for (v, p) in rhs_row.iter_mut().zip(&pivot_rhs) {
                    *v -= f * p;
                }
            }
        }
    }
    let mut coef = [[0f32; 6]; 3];
    for (c, k) in coef.iter_mut().enumerate() {
        for i in 0..n {
            k[i] = (rhs[i][c] / a[i][i]) as f32;
        }
    }
    Some(coef)
}

/// The 0-pixels of `mask` that the border cannot reach through corridors wider than
/// `2 * gap`, so that an outline with small breaks still encloses its inside.
fn holes(mask: &GrayImage, gap: u8) -> GrayImage {
    let (w, h) = mask.dimensions();
    let outside = binary(w, h, |x, y| !on(mask, x, y));
    let seeds = if gap > 0 {
        erode(&outside, Norm::LInf, gap)
    } else {
        outside.clone()
    };
    let mut reached = touching_border(&seeds);
    if gap > 0 {
        reached = dilate(&reached, Norm::LInf, gap);
    }
    binary(w, h, |x, y| on(&outside, x, y) && !on(&reached, x, y))
}

/// Which enclosed regions belong to the garment. A region whose core is pure background and
/// that is small next to the garment is a pocket between sleeve and body: left out. A region
/// enclosed only by bridging a break must be wide; a thin one (the tip of the wedge between
/// sleeve and body) is kept only where tightly enclosed.
fn keep_holes(
    tight: &GrayImage,
    bridged: &GrayImage,
    outline: &GrayImage,
    dev: &GrayImage,
    p: &MaskParams,
) -> GrayImage {
    /// A region with fewer core pixels than this is thin.
    const MIN_CORE: usize = 20;
    let (w, h) = tight.dimensions();
    let regions = Regions::of(bridged, Connectivity::Four);
    let core = erode(bridged, Norm::LInf, 3);
    let n = regions.size.len();
    let (mut core_n, mut pure) = (vec![0usize; n], vec![0usize; n]);
    for (x, y, l) in regions.labels.enumerate_pixels() {
        if on(&core, x, y) {
            let l = l[0] as usize;
            core_n[l] += 1;
            pure[l] += usize::from(dev.get_pixel(x, y)[0] <= 1);
        }
    }
    let area = &regions.size;
    let extent = outline.pixels().filter(|px| px[0] != 0).count() + area[1..].iter().sum::<usize>();
    let kept = regions.keep(|l| {
        let pocket = pure[l] as f32 >= p.pocket_pure * core_n[l] as f32
            && (area[l] as f32) < p.pocket_share * extent as f32;
        core_n[l] >= MIN_CORE && !pocket
    });
    let thin = regions.keep(|l| core_n[l] < MIN_CORE);
    binary(w, h, |x, y| {
        on(&kept, x, y) || (on(&thin, x, y) && on(tight, x, y))
    })
}

/// The 255-regions of a mask: their labels (0: not in the mask), and per label its size, its
/// bounding box and whether it touches the image border.
struct Regions {
    labels: ImageBuffer<Luma<u32>, Vec<u32>>,
    size: Vec<usize>,
    /// x0, y0, x1, y1 (inclusive).
    bounds: Vec<[u32; 4]>,
    at_border: Vec<bool>,
}

impl Regions {
    fn of(mask: &GrayImage, connectivity: Connectivity) -> Self {
        let (w, h) = mask.dimensions();
        let labels = connected_components(mask, connectivity, Luma([0u8]));
        let n = labels.pixels().map(|l| l[0]).max().unwrap_or(0) as usize;
        let (mut size, mut at_border) = (vec![0usize; n + 1], vec![false; n + 1]);
        let mut bounds = vec![[u32::MAX, u32::MAX, 0, 0]; n + 1];
        for (x, y, l) in labels.enumerate_pixels() {
            let l = l[0] as usize;
            size[l] += 1;
            at_border[l] |= x == 0 || y == 0 || x + 1 == w || y + 1 == h;
            let b = &mut bounds[l];
            *b = [b[0].min(x), b[1].min(y), b[2].max(x), b[3].max(y)];
        }
        Regions {
            labels,
            size,
            bounds,
            at_border,
        }
    }

    fn label(&self, x: u32, y: u32) -> usize {
        self.labels.get_pixel(x, y)[0] as usize
    }

    /// The label of the largest region (0 where there is none).
    fn largest(&self) -> usize {
        (1..self.size.len())
            .max_by_key(|&l| self.size[l])
            .unwrap_or(0)
    }

    /// The mask of the regions `keep` accepts.
    fn keep(&self, keep: impl Fn(usize) -> bool) -> GrayImage {
        let (w, h) = self.labels.dimensions();
        let kept: Vec<bool> = (0..self.size.len()).map(|l| l != 0 && keep(l)).collect();
        binary(w, h, |x, y| kept[self.label(x, y)])
    }
}

/// The 255-pixels of `mask` 4-connected to the image border.
fn touching_border(mask: &GrayImage) -> GrayImage {
    let r = Regions::of(mask, Connectivity::Four);
    r.keep(|l| r.at_border[l])
}

/// Keeps the largest 8-connected 255-region and the others that do not touch the border.
fn without_parts_at_the_border(mask: &GrayImage) -> GrayImage {
    let r = Regions::of(mask, Connectivity::Eight);
    let largest = r.largest();
    r.keep(|l| l == largest || !r.at_border[l])
}

/// Keeps the largest 8-connected 255-region and those at least `share` of its size.
fn main_components(mask: &GrayImage, share: f32) -> GrayImage {
    let r = Regions::of(mask, Connectivity::Eight);
    let min = ((r.size[r.largest()] as f32 * share).ceil() as usize).max(1);
    r.keep(|l| r.size[l] >= min)
}

/// A striped garment whose light stripes are the backdrop's colour (a Breton top on white)
/// comes out of the colour rules as a stack of dark bands, the light stripes cut in from its
/// sides as notches of backdrop. In a column crossed by several such notches, each short
/// (under [`STRIPE_GAP`] of the garment's height) with garment above and below it, the notches
/// are garment. Only backdrop reaching the photo's border is taken: holes the garment encloses
/// (a neck opening, a pocket beside a sleeve) were judged by the rules before, and a column with
/// fewer notches (a sleeve's flare, the gap under an arm) is not a stripe.
fn with_stripes_bridged(mut mask: GrayImage) -> GrayImage {
    let (w, h) = (mask.width() as usize, mask.height() as usize);
    let px = mask.as_raw();
    let row_has = |y: usize| px[y * w..(y + 1) * w].iter().any(|&v| v != 0);
    let (Some(top), Some(bottom)) = ((0..h).find(|&y| row_has(y)), (0..h).rfind(|&y| row_has(y)))
    else {
        return mask;
    };
    let longest = ((((bottom - top + 1) as f64) * STRIPE_GAP).round() as usize).max(2);
    let outside = backdrop_reaching_the_border(px, w, h);
    // The notches of each column (runs of outside backdrop between garment pixels), found a row
    // at a time, every column carrying its open run: where it started and whether all of it so
    // far is outside.
    let mut notches: Vec<Vec<(usize, usize)>> = vec![Vec::new(); w];
    let mut open: Vec<Option<(usize, bool)>> = vec![None; w];
    let mut seen = vec![false; w];
    for y in 0..h {
        for x in 0..w {
            let i = y * w + x;
            if px[i] != 0 {
                if let Some((start, all_outside)) = open[x].take() {
                    if seen[x] && all_outside && y - start <= longest {
                        notches[x].push((start, y));
                    }
                }
                seen[x] = true;
            } else {
                match &mut open[x] {
                    Some((_, all_outside)) => *all_outside &= outside[i],
                    None => open[x] = Some((y, outside[i])),
                }
            }
        }
    }
    // A garment is striped where enough of its columns cross many notches; then every column
    // that crosses two or more (the stripes' ends, near the sides) is bridged too.
    let width =
        seen.iter().rposition(|&s| s).unwrap_or(0) + 1 - seen.iter().position(|&s| s).unwrap_or(0);
    let striped = notches.iter().filter(|n| n.len() >= 3).count();
    if striped == 0 || (striped as f64) < (width as f64 * MIN_STRIPED_COLUMNS).max(3.0) {
        return mask;
    }
    for (x, runs) in notches.iter().enumerate().filter(|(_, r)| r.len() >= 2) {
        for &(y0, y1) in runs {
            for y in y0..y1 {
                mask.put_pixel(x as u32, y as u32, Luma([255]));
            }
        }
    }
    mask
}

/// The 0-pixels of a `w` x `h` mask 4-connected to its border, filled span by span (a label
/// image of a 12-megapixel mask would take four bytes a pixel).
fn backdrop_reaching_the_border(px: &[u8], w: usize, h: usize) -> Vec<bool> {
    let mut regions: Vec<u8> = px.iter().map(|&v| if v == 0 { 0 } else { 255 }).collect();
    let border = (0..w)
        .flat_map(|x| [x, (h - 1) * w + x])
        .chain((0..h).flat_map(|y| [y * w, y * w + w - 1]));
    for i in border {
        if regions[i] == 0 {
            fill(&mut regions, (w, h), i, [0, 1], false);
        }
    }
    regions.iter().map(|&v| v == 1).collect()
}

/// The longest notch a light stripe leaves, as a share of the garment's height.
const STRIPE_GAP: f64 = 0.08;
/// The share of the garment's columns that must cross three notches or more for stripes.
const MIN_STRIPED_COLUMNS: f64 = 0.05;

#[cfg(test)]
mod tests {
    use super::*;
    use image::Rgb;

    /// A small deterministic generator (xorshift), for inputs of every shape.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }

        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }
    }

    /// A block of garment (x 20..80, y 10..90) with notches cut in from both sides at the rows
    /// `notched` accepts, and a hole it encloses (x 45..55, y 40..43).
    fn notched_block(notched: impl Fn(u32) -> bool) -> GrayImage {
        binary(100, 100, |x, y| {
            let block = (20..80).contains(&x) && (10..90).contains(&y);
            let notch = !(35..65).contains(&x) && notched(y);
            let hole = (45..55).contains(&x) && (40..43).contains(&y);
            block && !notch && !hole
        })
    }

    #[test]
    fn stripes_are_bridged_and_enclosed_holes_and_lone_notches_kept() {
        // Light stripes three rows high every six rows: the notches fill, the hole stays.
        let striped = notched_block(|y| y > 12 && y < 86 && y % 6 < 3);
        let bridged = with_stripes_bridged(striped);
        let whole = notched_block(|_| false);
        assert_eq!(bridged, whole);
        // Two notches down each side (a sleeve's flare, a tiered hem): no stripes, as it was.
        let tiered = notched_block(|y| (30..33).contains(&y) || (60..63).contains(&y));
        assert_eq!(with_stripes_bridged(tiered.clone()), tiered);
        // Notches taller than a light stripe (a tenth of the garment's height) stay too.
        let wide = notched_block(|y| y > 12 && y < 86 && y % 20 < 10);
        assert_eq!(with_stripes_bridged(wide.clone()), wide);
        let empty = GrayImage::new(40, 40);
        assert_eq!(with_stripes_bridged(empty.clone()), empty);
    }

    #[test]
    fn stripes_are_bridged_only_across_outside_notches_and_edge_parts_found_on_any_mask() {
        let mut rng = Rng(0x2545_f491_4f6c_dd1d);
        let mut bridged_any = 0;
        for case in 0..300 {
            let w = 1 + rng.below(120) as u32;
            let h = 1 + rng.below(120) as u32;
            // Random blocks, and in half the cases rows of stripes cut through them.
            let block = 1 + rng.below(10) as u32;
            let seeds: Vec<bool> = (0..(w / block + 1) * (h / block + 1))
                .map(|_| rng.below(3) != 0)
                .collect();
            let period = 2 + rng.below(8) as u32;
            let striped = rng.below(2) == 0;
            let mask = binary(w, h, |x, y| {
                seeds[((y / block) * (w / block + 1) + x / block) as usize]
                    && !(striped && y % period == 0)
            });
            let outside = touching_border(&binary(w, h, |x, y| !on(&mask, x, y)));
            let spans = backdrop_reaching_the_border(mask.as_raw(), w as usize, h as usize);
            assert!(
                outside.pixels().zip(&spans).all(|(o, &s)| (o[0] != 0) == s),
                "case {case}: the span fill differs from the labelled regions"
            );
            assert_eq!(
                without_separate_parts_at_the_edge(mask.clone()),
                without_parts_at_the_border(&mask),
                "case {case}: the span fill's parts differ from the labelled regions"
            );
            let out = with_stripes_bridged(mask.clone());
            assert_eq!(out.dimensions(), (w, h), "case {case}");
            for x in 0..w {
                for y in 0..h {
                    if on(&out, x, y) && !on(&mask, x, y) {
                        bridged_any += 1;
                        // Only outside backdrop, with the garment above and below it.
                        assert!(on(&outside, x, y), "case {case}: ({x}, {y})");
                        assert!((0..y).any(|yy| on(&mask, x, yy)), "case {case}");
                        assert!((y + 1..h).any(|yy| on(&mask, x, yy)), "case {case}");
                    }
                    assert!(on(&out, x, y) || !on(&mask, x, y), "case {case}: lost");
                }
            }
        }
        assert!(bridged_any > 0, "no case bridged anything");
    }

    /// A coarse mask that reaches onto the backdrop (a staircase a few pixels out) and holds a
    /// separate speck: the outline is drawn at the garment's edge and the speck, far smaller
    /// than the garment, is dropped.
    #[test]
    fn the_outline_is_drawn_at_the_edge_and_specks_are_dropped() {
        let garment = |x: u32, y: u32| (50..150).contains(&x) && (50..150).contains(&y);
        // Steps of 8 pixels reaching up to 7 pixels out on every side.
        let stairs = |x: u32, y: u32| {
            let out = |v: u32, w: u32| (v / 8 + w / 8) % 8;
            (43..157).contains(&x)
                && (43..157).contains(&y)
                && (garment(x, y) || x.min(y) + out(x, y) >= 50 && x.max(y) <= 149 + out(y, x))
        };
        let speck = |x: u32, y: u32| (180..192).contains(&x) && (100..112).contains(&y);
        let image = RgbImage::from_fn(220, 200, |x, y| {
            Rgb(if garment(x, y) {
                [180, 20, 40]
            } else {
                [245; 3]
            })
        });
        let mask = binary(220, 200, |x, y| stairs(x, y) || speck(x, y));
        let off = |m: &GrayImage| {
            m.enumerate_pixels()
                .filter(|(x, y, p)| (p[0] != 0) != garment(*x, *y))
                .count()
        };
        assert!(off(&mask) > 500, "{}", off(&mask));
        assert_eq!(off(&refine_edge(&image, &mask, 8.0, 0.02)), 0);
    }

    /// On any picture and any mask, of any size: a 0/255 mask of the same size that differs
    /// from the given one only near its outline (within `reach` and a pixel more), or where a
    /// small part was dropped (to 0).
    #[test]
    fn the_outline_moves_only_near_itself_on_any_input() {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        // Pixels the outline gained and lost over all cases: the cases must move it.
        let (mut gained, mut lost) = (0usize, 0usize);
        for case in 0..300 {
            let w = 1 + rng.below(90) as u32;
            let h = 1 + rng.below(90) as u32;
            let reach = [1.0, 1.5, 2.0, 3.7, 8.0, 40.0][rng.below(6) as usize];
            // A blocky mask (a coarse mask scaled back) of random blocks, a random picture
            // that is partly a garment colour on a backdrop colour, partly noise.
            let block = 1 + rng.below(12) as u32;
            let seeds: Vec<bool> = (0..(w / block + 1) * (h / block + 1))
                .map(|_| rng.below(3) == 0)
                .collect();
            let mask = binary(w, h, |x, y| {
                seeds[((y / block) * (w / block + 1) + x / block) as usize]
            });
            // The garment in the picture: the mask shifted by a few pixels, as the coarse
            // outline misses the real one.
            let (garment, backdrop) = ([180u8, 20, 40], [245u8, 245, 245]);
            let (dx, dy) = (rng.below(7) as i64 - 3, rng.below(7) as i64 - 3);
            let noisy = rng.below(4) == 0;
            let mut noise = Rng(case + 1);
            let image = RgbImage::from_fn(w, h, |x, y| {
                let (u, v) = (i64::from(x) + dx, i64::from(y) + dy);
                let shifted = u >= 0
                    && v >= 0
                    && u < i64::from(w)
                    && v < i64::from(h)
                    && on(&mask, u as u32, v as u32);
                if noisy {
                    let v = noise.next();
                    Rgb([v as u8, (v >> 8) as u8, (v >> 16) as u8])
                } else if shifted ^ (noise.below(20) == 0) {
                    Rgb(garment)
                } else {
                    Rgb(backdrop)
                }
            });
            let refined = refine_edge(&image, &mask, reach, 0.02);
            assert_eq!(refined.dimensions(), (w, h), "case {case}");
            assert!(
                refined.pixels().all(|p| p[0] == 0 || p[0] == 255),
                "case {case}"
            );
            if reach < 1.5 {
                assert_eq!(refined, mask, "case {case}");
                continue;
            }
            let band = reach.ceil() as u8 + 1;
            let inside = erode(&mask, Norm::LInf, band);
            let near = dilate(&mask, Norm::LInf, band);
            for (x, y, p) in refined.enumerate_pixels() {
                let was = on(&mask, x, y);
                let is = p[0] != 0;
                gained += usize::from(is && !was);
                lost += usize::from(was && !is);
                if is && !was {
                    // Only pixels near the outline become garment.
                    assert!(
                        on(&near, x, y) && !on(&inside, x, y),
                        "case {case}: ({x}, {y})"
                    );
                }
                if was && !is && on(&inside, x, y) {
                    // Surely garment is lost only with a dropped part: nothing of it is left
                    // in its square of the islands' grid.
                    let s = (reach / 4.0).max(1.0) as u32;
                    let (x0, y0) = (x / s * s, y / s * s);
                    for v in y0..(y0 + s).min(h) {
                        for u in x0..(x0 + s).min(w) {
                            assert!(!on(&refined, u, v), "case {case}: ({x}, {y})");
                        }
                    }
                }
            }
        }
        eprintln!("{gained} gained, {lost} lost");
        assert!(gained > 1000 && lost > 1000, "{gained} gained, {lost} lost");
    }

    /// On any picture and any pair of masks, of any size (past the sampled size too): the
    /// cut-out mask only loses pixels, only where the general mask disputes it (exactly so
    /// below the sampled size), and stays as it is where nothing is disputed. The cases must
    /// also take something out.
    #[test]
    fn bridged_backdrop_only_takes_out_what_the_general_mask_disputes() {
        let mut rng = Rng(0x2545_f491_4f6c_dd1d);
        let mut taken = 0usize;
        for case in 0..200 {
            let large = case % 25 == 0;
            let (w, h) = if large {
                (900 + rng.below(500) as u32, 900 + rng.below(500) as u32)
            } else {
                (1 + rng.below(120) as u32, 1 + rng.below(120) as u32)
            };
            let colour = [0, 1, 2].map(|_| 150 + rng.below(100) as u8);
            let flat = Flat { colour, tol: 0 };
            // Blocky masks, and a picture that is the backdrop's colour (or within 2 levels of
            // it) in random blocks and cloth elsewhere.
            let block = 1 + rng.below(if large { 200 } else { 16 }) as u32;
            let cells = ((w / block + 1) * (h / block + 1)) as usize;
            let blocks = |rng: &mut Rng, p: u64| -> Vec<bool> {
                (0..cells).map(|_| rng.below(100) < p).collect()
            };
            let (cut_cells, general_cells, backdrop_cells) = (
                blocks(&mut rng, 70),
                blocks(&mut rng, 50),
                blocks(&mut rng, 50),
            );
            let cell = |x: u32, y: u32| ((y / block) * (w / block + 1) + x / block) as usize;
            let cut = binary(w, h, |x, y| cut_cells[cell(x, y)]);
            let general = binary(w, h, |x, y| general_cells[cell(x, y)]);
            let mut noise = Rng(case + 7);
            let image = RgbImage::from_fn(w, h, |x, y| {
                if backdrop_cells[cell(x, y)] {
                    let d = noise.below(5) as i16 - 2;
                    Rgb(colour.map(|c| (i16::from(c) + d).clamp(0, 255) as u8))
                } else {
                    Rgb([40, 60, 90])
                }
            });
            let out = without_bridged_backdrop(&image, flat, &cut, &general);
            assert_eq!(out.dimensions(), (w, h), "case {case}");
            let exact = cut_out_size(w, h).is_none();
            for (x, y, p) in out.enumerate_pixels() {
                assert!(p[0] == 0 || p[0] == 255, "case {case}");
                let (was, is) = (on(&cut, x, y), p[0] != 0);
                assert!(!is || was, "case {case}: ({x}, {y}) gained");
                if was && !is {
                    taken += 1;
                    if exact {
                        assert!(!on(&general, x, y), "case {case}: ({x}, {y}) undisputed");
                    }
                }
            }
            // Nothing disputed: nothing taken.
            let agreed = binary(w, h, |x, y| on(&cut, x, y) || on(&general, x, y));
            assert_eq!(
                without_bridged_backdrop(&image, flat, &cut, &agreed),
                cut,
                "case {case}"
            );
        }
        assert!(taken > 10_000, "{taken} taken");
    }
}
