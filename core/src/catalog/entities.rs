//! HTML entities in item text: Amazon metadata writes `&amp;`, `&#39;`, `&reg;`… where the
//! page had the character, and every reader of `items.jsonl` decodes them the same way.

/// Decodes the HTML entities found in product metadata: the XML five, numeric references
/// (`&#39;`, `&#x27;`; code points 128–159 read as Windows-1252, as legacy pages meant
/// them) and a handful of named ones (`&reg;`, `&trade;`, accented letters…). Anything
/// else, including a malformed or unknown entity, is kept as written.
pub fn decode_entities(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        rest = &rest[amp..];
        // Entity names are short; a `;` further away is not the end of one.
        let decoded = rest.as_bytes()[1..]
            .iter()
            .take(11)
            .position(|&b| b == b';')
            .and_then(|semi| decode_entity(&rest[1..1 + semi]).map(|c| (c, semi + 2)));
        match decoded {
            Some((c, consumed)) => {
                out.push(c);
                rest = &rest[consumed..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

fn decode_entity(name: &str) -> Option<char> {
    if let Some(number) = name.strip_prefix('#') {
        let code = match number.strip_prefix(['x', 'X']) {
            Some(hex) => u32::from_str_radix(hex, 16).ok()?,
            None => number.parse().ok()?,
        };
        return Some(windows_1252(code).unwrap_or(char::from_u32(code)?));
    }
    Some(match name {
        "amp" => '&',
        "lt" => '<',
        "gt" => '>',
        "quot" => '"',
        "apos" => '\'',
        "nbsp" => ' ',
        "reg" => '®',
        "trade" => '™',
        "copy" => '©',
        "deg" => '°',
        "bull" => '•',
        "hearts" => '♥',
        "ordm" => 'º',
        "frac12" => '½',
        "frac14" => '¼',
        "eacute" => 'é',
        "Eacute" => 'É',
        "egrave" => 'è',
        "Egrave" => 'È',
        "ccedil" => 'ç',
        "ntilde" => 'ñ',
        "uuml" => 'ü',
        "ouml" => 'ö',
        "auml" => 'ä',
        "hellip" => '…',
        "ndash" => '–',
        "mdash" => '—',
        "rsquo" => '’',
        "lsquo" => '‘',
        "rdquo" => '”',
        "ldquo" => '“',
        _ => return None,
    })
}

/// The characters Windows-1252 puts at 128–159, where Unicode has control codes.
fn windows_1252(code: u32) -> Option<char> {
    Some(match code {
        0x80 => '€',
        0x85 => '…',
        0x91 => '‘',
        0x92 => '’',
        0x93 => '“',
        0x94 => '”',
        0x95 => '•',
        0x96 => '–',
        0x97 => '—',
        0x99 => '™',
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::decode_entities;

    #[test]
    fn entities_are_decoded_and_anything_else_kept() {
        assert_eq!(
            decode_entities("Soft &amp; Soothing&reg; &quot;Olivander&quot; &#9733;&#x2605; caf&eacute; &#153; &#150;"),
            "Soft & Soothing® \"Olivander\" ★★ café ™ –"
        );
        for kept in [
            "AT&T",
            "a & b",
            "&unknown;",
            "&#xZZ;",
            "&#99999999;",
            "&;",
            "&",
            "fish&chips;",
            "&amp",
        ] {
            assert_eq!(decode_entities(kept), kept);
        }
        // A multi-byte character right after an entity must not confuse the scan.
        assert_eq!(decode_entities("&amp;éééééééé &lt;"), "&éééééééé <");
    }
}
