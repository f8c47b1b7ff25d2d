//! The latency chart of `grlm bench --svg`: one cumulative distribution per thread count and
//! request kind (cold solid, warm dashed), so medians and tails of two devices can be read
//! off the same axes. Plain SVG 1.1 with no scripts or external fonts, so any browser or
//! document renders it.

use std::fmt::Write;

/// One run's latencies, ms: a label such as `2 thr`, its cold and its warm requests.
pub struct Curve {
    pub label: String,
    pub cold: Vec<f64>,
    pub warm: Vec<f64>,
}

const WIDTH: f64 = 820.0;
const HEIGHT: f64 = 420.0;
const LEFT: f64 = 64.0;
const RIGHT: f64 = 220.0;
const TOP: f64 = 60.0;
const BOTTOM: f64 = 56.0;
const COLOURS: [&str; 6] = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf"];

/// A "nice" axis step (1, 2 or 5 times a power of ten) giving about `ticks` ticks up to `max`.
fn tick_step(max: f64, ticks: f64) -> f64 {
    let raw = (max / ticks).max(f64::MIN_POSITIVE);
    let magnitude = 10f64.powf(raw.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * magnitude)
        .find(|&step| step >= raw)
        .unwrap_or(10.0 * magnitude)
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// The SVG document for `curves` under `title` (`what — where`).
pub fn latency_svg(title: &str, curves: &[Curve]) -> String {
    let max = curves
        .iter()
        .flat_map(|c| c.cold.iter().chain(&c.warm))
        .copied()
        .filter(|v| v.is_finite())
        .fold(0.0f64, f64::max);
    let step = tick_step(max.max(1.0), 6.0);
    let x_max = (max / step).ceil().max(1.0) * step;
    let (plot_w, plot_h) = (WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM);
    let x = |ms: f64| LEFT + ms / x_max * plot_w;
    let y = |fraction: f64| TOP + (1.0 - fraction) * plot_h;

    let mut svg = String::new();
    // Writing into a String cannot fail.
    let _ = writeln!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(svg, r#"<rect width="100%" height="100%" fill="white"/>"#);
    // The title is two lines: what ran, then on what (split at the first " — ").
    let (first, second) = title.split_once(" — ").unwrap_or((title, ""));
    for (line, text) in [(0.0, first), (1.0, second)] {
        let _ = writeln!(
            svg,
            r#"<text x="{}" y="{}" font-size="13" text-anchor="middle">{}</text>"#,
            WIDTH / 2.0,
            20.0 + 17.0 * line,
            escape(text)
        );
    }
    // Grid and axes.
    let mut tick = 0.0;
    while tick <= x_max + step / 2.0 {
        let px = x(tick);
        let _ = writeln!(
            svg,
            r##"<line x1="{px:.1}" y1="{TOP}" x2="{px:.1}" y2="{:.1}" stroke="#ddd"/><text x="{px:.1}" y="{:.1}" text-anchor="middle">{tick}</text>"##,
            TOP + plot_h,
            TOP + plot_h + 16.0
        );
        tick += step;
    }
    for i in 0..=4 {
        let fraction = f64::from(i) / 4.0;
        let py = y(fraction);
        let _ = writeln!(
            svg,
            r##"<line x1="{LEFT}" y1="{py:.1}" x2="{:.1}" y2="{py:.1}" stroke="#ddd"/><text x="{:.1}" y="{:.1}" text-anchor="end">{fraction}</text>"##,
            LEFT + plot_w,
            LEFT - 6.0,
            py + 4.0
        );
    }
    let _ = writeln!(
        svg,
        r#"<rect x="{LEFT}" y="{TOP}" width="{plot_w}" height="{plot_h}" fill="none" stroke="black"/>"#
    );
    let _ = writeln!(
        svg,
        r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">request latency (ms)</text>"#,
        LEFT + plot_w / 2.0,
        HEIGHT - 14.0
    );
    let _ = writeln!(
        svg,
        r#"<text transform="translate(16 {:.1}) rotate(-90)" text-anchor="middle">fraction of requests at or below</text>"#,
        TOP + plot_h / 2.0
    );

    // One step curve per (run, kind), and its legend entry with the median.
    let mut legend_y = TOP + 8.0;
    for (i, curve) in curves.iter().enumerate() {
        let (label, colour) = (&curve.label, COLOURS[i % COLOURS.len()]);
        for (kind, values, dash) in [("cold", &curve.cold, ""), ("warm", &curve.warm, "6 4")] {
            let mut sorted: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
            if sorted.is_empty() {
                continue;
            }
            sorted.sort_by(f64::total_cmp);
            let n = sorted.len() as f64;
            let mut points = format!("{:.1},{:.1}", x(0.0), y(0.0));
            for (rank, &v) in sorted.iter().enumerate() {
                let _ = write!(
                    points,
                    " {:.1},{:.1} {:.1},{:.1}",
                    x(v),
                    y(rank as f64 / n),
                    x(v),
                    y((rank + 1) as f64 / n)
                );
            }
            let _ = write!(points, " {:.1},{:.1}", x(x_max), y(1.0));
            let _ = writeln!(
                svg,
                r#"<polyline points="{points}" fill="none" stroke="{colour}" stroke-width="2" stroke-dasharray="{dash}"/>"#
            );
            let median = sorted[((sorted.len() - 1) as f64 * 0.5).round() as usize];
            let lx = LEFT + plot_w + 12.0;
            let _ = writeln!(
                svg,
                r#"<line x1="{lx}" y1="{legend_y:.1}" x2="{:.1}" y2="{legend_y:.1}" stroke="{colour}" stroke-width="2" stroke-dasharray="{dash}"/><text x="{:.1}" y="{:.1}">{label} {kind}, p50 {median:.0} ms</text>"#,
                lx + 24.0,
                lx + 30.0,
                legend_y + 4.0
            );
            legend_y += 20.0;
        }
    }
    svg.push_str("</svg>\n");
    svg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_are_round_numbers() {
        assert_eq!(tick_step(3124.0, 6.0), 1000.0);
        assert_eq!(tick_step(549.0, 6.0), 100.0);
        assert_eq!(tick_step(30.0, 6.0), 5.0);
    }

    #[test]
    fn one_curve_per_thread_count_and_kind() {
        let curve = |label: &str, base: f64| Curve {
            label: label.to_owned(),
            cold: vec![base * 3.0, base * 4.0, base * 5.0],
            warm: vec![base, base * 2.0, f64::NAN],
        };
        let curves = [curve("1 thr", 100.0), curve("2 thr", 60.0)];
        let svg = latency_svg("a <b> & c", &curves);
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>\n"));
        assert_eq!(svg.matches("<polyline").count(), 4);
        assert!(svg.contains("a &lt;b&gt; &amp; c"));
        assert!(svg.contains("1 thr cold, p50 400 ms"));
        assert!(svg.contains("2 thr warm, p50 120 ms"), "NaN samples are left out");
        assert!(!svg.contains("NaN"));
    }
}
