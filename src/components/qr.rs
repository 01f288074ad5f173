//! A QR code as inline SVG, drawn on the server (the `qrcode` crate): no image request,
//! no script, crisp at any size, and readable by the phone's camera app.

use qrcode::{render::svg, EcLevel, QrCode};

/// `text` (a URL) as an `<svg>` element, or `None` if it is too long for a QR code.
/// Error correction M: a screen photographed at an angle still scans.
pub fn svg_of(text: &str) -> Option<String> {
    let code = QrCode::with_error_correction_level(text.as_bytes(), EcLevel::M).ok()?;
    let image = code
        .render::<svg::Color>()
        .min_dimensions(220, 220)
        .quiet_zone(true)
        .dark_color(svg::Color("#000000"))
        .light_color(svg::Color("#ffffff"))
        .build();
    // The renderer writes a standalone XML document; inline in HTML only the element goes.
    let start = image.find("<svg")?;
    Some(image[start..].to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_url_becomes_one_inline_svg_element() {
        let svg = svg_of("https://verify.example/handoff?h=0123456789abcdefghijklmnopqrstuvwxyzABCDEFG").unwrap();
        assert!(svg.starts_with("<svg"), "{svg}");
        assert!(svg.trim_end().ends_with("</svg>"));
        assert!(!svg.contains("<?xml"));
        assert!(svg.contains("<path"), "the dark modules are drawn");
        // A different URL draws a different code.
        assert_ne!(svg, svg_of("https://verify.example/handoff?h=other").unwrap());
        assert_eq!(svg_of(&"x".repeat(5000)), None);
    }
}
