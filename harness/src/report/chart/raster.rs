//! The PNG of a chart: drawn on an in-memory RGB bitmap whose text is laid
//! out with ab_glyph, then encoded.
//!
//! NOTE: rasterising the SVG with resvg instead was considered (issue 12).
//! The PNG and the SVG are drawn by the same `draw::draw`, so they cannot
//! disagree; only the glyph placement below is ours (plotters' own drops
//! side bearings). resvg would replace those ~150 lines with a second text
//! stack (usvg, fontdb, rustybuzz, tiny-skia: ~20 crates more to build on
//! every CI run) and make PNG text depend on font lookup by family name.

use super::draw::draw;
use super::spec::ChartSpec;
use super::*;

/// Render a chart as SVG text and PNG bytes.
pub fn render_both(spec: &ChartSpec) -> Result<(String, Vec<u8>), ExportError> {
    register_font();
    let err = |what: &str, e: String| ExportError::Render {
        what: format!("{}.{what}", spec.file_stem),
        why: e,
    };
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, HEIGHT)).into_drawing_area();
        draw(&root, spec).map_err(|e| err("svg", e))?;
        root.present().map_err(|e| err("svg", e.to_string()))?;
    }
    let mut rgb = vec![0u8; (WIDTH * HEIGHT * 3) as usize];
    {
        let root = GlyphBackend::new(BitMapBackend::with_buffer(&mut rgb, (WIDTH, HEIGHT)))
            .map_err(|e| err("png", e))?
            .into_drawing_area();
        draw(&root, spec).map_err(|e| err("png", e))?;
        root.present().map_err(|e| err("png", e.to_string()))?;
    }
    let png = encode_png(&rgb, WIDTH, HEIGHT).map_err(|e| err("png", e))?;
    Ok((svg, png))
}

/// A bitmap backend whose text is laid out with ab_glyph directly: each
/// glyph at its own side bearing and baseline, kerned, and rotated for the
/// y axis. NOTE: plotters' ab_glyph text drops the side bearings, which
/// spaces digits unevenly ("22 0 MiB"); everything else is delegated.
pub(super) struct GlyphBackend<'a> {
    inner: BitMapBackend<'a>,
    font: ab_glyph::FontRef<'static>,
}

impl<'a> GlyphBackend<'a> {
    fn new(inner: BitMapBackend<'a>) -> Result<Self, String> {
        let font = ab_glyph::FontRef::try_from_slice(FONT_BYTES)
            .map_err(|e| format!("embedded font: {e}"))?;
        Ok(GlyphBackend { inner, font })
    }

    /// Glyphs of `text` at pixel `size`, positioned from the top left of its
    /// box, and the box's width and height.
    fn layout(&self, text: &str, size: f64) -> (Vec<ab_glyph::Glyph>, f32, f32) {
        use ab_glyph::{Font, ScaleFont};
        let scaled = self.font.as_scaled(ab_glyph::PxScale::from(size as f32));
        let ascent = scaled.ascent();
        let mut x = 0.0f32;
        let mut prev: Option<ab_glyph::GlyphId> = None;
        let mut glyphs = Vec::with_capacity(text.len());
        for c in text.chars() {
            let id = scaled.glyph_id(c);
            if let Some(p) = prev {
                x += scaled.kern(p, id);
            }
            glyphs.push(id.with_scale_and_position(scaled.scale(), ab_glyph::point(x, ascent)));
            x += scaled.h_advance(id);
            prev = Some(id);
        }
        (glyphs, x, scaled.height())
    }
}

type BitmapError<'a> = <BitMapBackend<'a> as DrawingBackend>::ErrorType;
type Drawn<'a> = Result<(), plotters_backend::DrawingErrorKind<BitmapError<'a>>>;

impl<'a> DrawingBackend for GlyphBackend<'a> {
    type ErrorType = BitmapError<'a>;

    fn get_size(&self) -> (u32, u32) {
        self.inner.get_size()
    }

    fn ensure_prepared(&mut self) -> Drawn<'a> {
        self.inner.ensure_prepared()
    }

    fn present(&mut self) -> Drawn<'a> {
        self.inner.present()
    }

    fn draw_pixel(
        &mut self,
        point: plotters_backend::BackendCoord,
        color: plotters_backend::BackendColor,
    ) -> Drawn<'a> {
        self.inner.draw_pixel(point, color)
    }

    fn draw_line<S: plotters_backend::BackendStyle>(
        &mut self,
        from: plotters_backend::BackendCoord,
        to: plotters_backend::BackendCoord,
        style: &S,
    ) -> Drawn<'a> {
        self.inner.draw_line(from, to, style)
    }

    fn draw_rect<S: plotters_backend::BackendStyle>(
        &mut self,
        upper_left: plotters_backend::BackendCoord,
        bottom_right: plotters_backend::BackendCoord,
        style: &S,
        fill: bool,
    ) -> Drawn<'a> {
        self.inner.draw_rect(upper_left, bottom_right, style, fill)
    }

    fn draw_path<
        S: plotters_backend::BackendStyle,
        I: IntoIterator<Item = plotters_backend::BackendCoord>,
    >(
        &mut self,
        path: I,
        style: &S,
    ) -> Drawn<'a> {
        self.inner.draw_path(path, style)
    }

    fn draw_circle<S: plotters_backend::BackendStyle>(
        &mut self,
        center: plotters_backend::BackendCoord,
        radius: u32,
        style: &S,
        fill: bool,
    ) -> Drawn<'a> {
        self.inner.draw_circle(center, radius, style, fill)
    }

    fn fill_polygon<
        S: plotters_backend::BackendStyle,
        I: IntoIterator<Item = plotters_backend::BackendCoord>,
    >(
        &mut self,
        vert: I,
        style: &S,
    ) -> Drawn<'a> {
        self.inner.fill_polygon(vert, style)
    }

    fn blit_bitmap(
        &mut self,
        pos: plotters_backend::BackendCoord,
        size: (u32, u32),
        src: &[u8],
    ) -> Drawn<'a> {
        self.inner.blit_bitmap(pos, size, src)
    }

    fn estimate_text_size<T: plotters_backend::BackendTextStyle>(
        &self,
        text: &str,
        style: &T,
    ) -> Result<(u32, u32), plotters_backend::DrawingErrorKind<Self::ErrorType>> {
        let (_, w, h) = self.layout(text, style.size());
        Ok((w.ceil() as u32, h.ceil() as u32))
    }

    fn draw_text<T: plotters_backend::BackendTextStyle>(
        &mut self,
        text: &str,
        style: &T,
        pos: plotters_backend::BackendCoord,
    ) -> Drawn<'a> {
        use ab_glyph::Font;
        use plotters_backend::text_anchor::{HPos, VPos};
        let color = style.color();
        if color.alpha == 0.0 {
            return Ok(());
        }
        let (glyphs, w, h) = self.layout(text, style.size());
        let dx = match style.anchor().h_pos {
            HPos::Left => 0.0,
            HPos::Center => -w / 2.0,
            HPos::Right => -w,
        };
        let dy = match style.anchor().v_pos {
            VPos::Top => 0.0,
            VPos::Center => -h / 2.0,
            VPos::Bottom => -h,
        };
        let trans = style.transform();
        for g in glyphs {
            let Some(outline) = self.font.outline_glyph(g) else {
                continue;
            };
            let b = outline.px_bounds();
            let mut pixels = Vec::new();
            outline.draw(|x, y, c| pixels.push((x, y, c)));
            for (x, y, c) in pixels {
                if c <= 0.0 {
                    continue;
                }
                // NOTE: floor, not round: rounding half away from zero maps
                // -0.5 and 0.5 to -1 and 1 and leaves a blank row at 0.
                let lx = (b.min.x + x as f32 + dx).floor() as i32;
                let ly = (b.min.y + y as f32 + dy).floor() as i32;
                let (tx, ty) = trans.transform(lx, ly);
                self.inner.draw_pixel(
                    (pos.0 + tx, pos.1 + ty),
                    plotters_backend::BackendColor {
                        alpha: color.alpha * f64::from(c.min(1.0)),
                        rgb: color.rgb,
                    },
                )?;
            }
        }
        Ok(())
    }
}

/// Encode 8-bit RGB pixels as PNG.
pub fn encode_png(rgb: &[u8], width: u32, height: u32) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut out, width, height);
        enc.set_color(png::ColorType::Rgb);
        enc.set_depth(png::BitDepth::Eight);
        enc.set_compression(png::Compression::Best);
        enc.set_adaptive_filter(png::AdaptiveFilterType::Adaptive);
        let mut w = enc.write_header().map_err(|e| e.to_string())?;
        w.write_image_data(rgb).map_err(|e| e.to_string())?;
        w.finish().map_err(|e| e.to_string())?;
    }
    Ok(out)
}
