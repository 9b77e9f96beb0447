//! Low-level CBOR reading on top of minicbor's `Decoder`, with the guarantees the wire
//! decoder needs: bounded nesting when skipping values we do not understand, tolerance
//! for what the JS encoder (cbor-x) emits (indefinite-length strings, half floats,
//! floats standing in for integers), and no allocation beyond the frame's own size.

use std::borrow::Cow;

use minicbor::data::Type;
use minicbor::Decoder;

use super::error::WireError;
use super::MAX_NESTING;

/// The CBOR tag cbor-x puts on a `Uint8Array` unless told not to (`tagUint8Array`); we
/// accept it around byte strings in case a client uses cbor-x's defaults.
const TAG_UINT8_ARRAY: u64 = 64;

/// The CBOR type at the decoder's position.
pub(crate) fn datatype(d: &Decoder<'_>) -> Result<Type, WireError> {
    d.datatype().map_err(WireError::cbor)
}

/// Whether the value at the position is `null` or `undefined`, which JS peers send for
/// absent optional fields.
pub(crate) fn is_absent(d: &Decoder<'_>) -> Result<bool, WireError> {
    Ok(matches!(datatype(d)?, Type::Null | Type::Undefined))
}

/// Whether the value at the position is a text string (of either length encoding).
pub(crate) fn is_text(d: &Decoder<'_>) -> Result<bool, WireError> {
    Ok(matches!(datatype(d)?, Type::String | Type::StringIndef))
}

/// Reads a text string, borrowing it from the frame when it is definite-length and
/// joining the chunks when it is indefinite. The caller has checked [`is_text`].
pub(crate) fn read_text<'b>(d: &mut Decoder<'b>) -> Result<Cow<'b, str>, WireError> {
    if datatype(d)? == Type::String {
        return d.str().map(Cow::Borrowed).map_err(WireError::cbor);
    }
    let mut out = String::new();
    for chunk in d.str_iter().map_err(WireError::cbor)? {
        out.push_str(chunk.map_err(WireError::cbor)?);
    }
    Ok(Cow::Owned(out))
}

/// Reads a byte string (optionally wrapped in tag 64), borrowing or joining chunks like
/// [`read_text`]. Returns `None`, consuming nothing, when the value is something else.
pub(crate) fn read_bytes<'b>(d: &mut Decoder<'b>) -> Result<Option<Cow<'b, [u8]>>, WireError> {
    let start = d.position();
    if datatype(d)? == Type::Tag {
        let tag = d.tag().map_err(WireError::cbor)?;
        if tag.as_u64() != TAG_UINT8_ARRAY {
            d.set_position(start);
            return Ok(None);
        }
    }
    match datatype(d)? {
        Type::Bytes => Ok(Some(Cow::Borrowed(d.bytes().map_err(WireError::cbor)?))),
        Type::BytesIndef => {
            let mut out = Vec::new();
            for chunk in d.bytes_iter().map_err(WireError::cbor)? {
                out.extend_from_slice(chunk.map_err(WireError::cbor)?);
            }
            Ok(Some(Cow::Owned(out)))
        }
        _ => {
            d.set_position(start);
            Ok(None)
        }
    }
}

/// Reads a non-negative integer the way JS peers send one: as a CBOR unsigned integer,
/// or as a float (cbor-x writes every number above 2^32 - 1 as a float64) whose value
/// is a finite, non-negative integer that fits a `u64`. Returns `None`, consuming
/// nothing, for anything else.
pub(crate) fn read_uint(d: &mut Decoder<'_>) -> Result<Option<u64>, WireError> {
    // 2^64 is exactly representable; every integral float below it fits a u64.
    const TWO_POW_64: f64 = 18_446_744_073_709_551_616.0;
    let float = match datatype(d)? {
        Type::U8 | Type::U16 | Type::U32 | Type::U64 => return d.u64().map(Some).map_err(WireError::cbor),
        Type::F16 => read_f16(d)?,
        Type::F32 => f64::from(d.f32().map_err(WireError::cbor)?),
        Type::F64 => d.f64().map_err(WireError::cbor)?,
        _ => return Ok(None),
    };
    if float.is_finite() && float >= 0.0 && float.fract() == 0.0 && float < TWO_POW_64 {
        // The checks above make the conversion exact.
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        Ok(Some(float as u64))
    } else {
        Ok(None)
    }
}

/// Decodes a half-precision float. minicbor only does this with its `half` feature,
/// which the workspace does not enable; the format is small enough to do by hand.
fn read_f16(d: &mut Decoder<'_>) -> Result<f64, WireError> {
    let p = d.position();
    let raw = d.input().get(p + 1..p + 3).ok_or_else(|| WireError::Malformed("truncated frame".to_owned()))?;
    let bits = u16::from_be_bytes([raw[0], raw[1]]);
    d.set_position(p + 3);
    Ok(f16_to_f64(bits))
}

fn f16_to_f64(bits: u16) -> f64 {
    let sign = if bits & 0x8000 != 0 { -1.0 } else { 1.0 };
    let exp = i32::from((bits >> 10) & 0x1f);
    let mant = f64::from(bits & 0x3ff);
    let magnitude = match exp {
        0 => mant * 2f64.powi(-24),
        31 if mant == 0.0 => f64::INFINITY,
        31 => f64::NAN,
        _ => (1.0 + mant / 1024.0) * 2f64.powi(exp - 15),
    };
    sign * magnitude
}

/// Skips one complete value of any type. `depth` is the number of containers that
/// enclose it; a container that would exceed [`MAX_NESTING`] is refused.
pub(crate) fn skip_value(d: &mut Decoder<'_>, depth: usize) -> Result<(), WireError> {
    match datatype(d)? {
        Type::Array | Type::ArrayIndef => {
            enter(depth)?;
            let len = d.array().map_err(WireError::cbor)?;
            for_each_item(d, len, |d| skip_value(d, depth + 1))
        }
        Type::Map | Type::MapIndef => {
            enter(depth)?;
            let len = d.map().map_err(WireError::cbor)?;
            for_each_item(d, len, |d| {
                skip_value(d, depth + 1)?;
                skip_value(d, depth + 1)
            })
        }
        Type::Tag => {
            enter(depth)?;
            d.tag().map_err(WireError::cbor)?;
            skip_value(d, depth + 1)
        }
        Type::Break => Err(WireError::Malformed("unexpected break outside an indefinite-length item".to_owned())),
        Type::Unknown(b) => Err(WireError::Malformed(format!("reserved initial byte {b:#04x}"))),
        // Scalars and strings: minicbor's own skip never recurses on these.
        _ => d.skip().map_err(WireError::cbor),
    }
}

fn enter(depth: usize) -> Result<(), WireError> {
    if depth + 1 > MAX_NESTING {
        Err(WireError::Malformed(format!("nesting deeper than {MAX_NESTING} levels")))
    } else {
        Ok(())
    }
}

/// Runs `item` once per entry of a container whose header has just been read: `len`
/// times for a definite length, or until the break byte (which it consumes) for an
/// indefinite one. A lying definite length runs out of input and fails; it never
/// allocates.
pub(crate) fn for_each_item<'b>(
    d: &mut Decoder<'b>,
    len: Option<u64>,
    mut item: impl FnMut(&mut Decoder<'b>) -> Result<(), WireError>,
) -> Result<(), WireError> {
    match len {
        Some(n) => {
            for _ in 0..n {
                item(d)?;
            }
        }
        None => loop {
            if datatype(d)? == Type::Break {
                // The break code is the single byte 0xff.
                d.set_position(d.position() + 1);
                break;
            }
            item(d)?;
        },
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn half_floats() {
        assert_eq!(f16_to_f64(0x0000), 0.0);
        assert_eq!(f16_to_f64(0x3c00), 1.0);
        assert_eq!(f16_to_f64(0x4200), 3.0);
        assert_eq!(f16_to_f64(0x7bff), 65504.0);
        assert_eq!(f16_to_f64(0xc000), -2.0);
        assert_eq!(f16_to_f64(0x0001), 2f64.powi(-24));
        assert_eq!(f16_to_f64(0x7c00), f64::INFINITY);
        assert!(f16_to_f64(0x7e00).is_nan());
    }

    fn uint(bytes: &[u8]) -> Option<u64> {
        let mut d = Decoder::new(bytes);
        let v = read_uint(&mut d).unwrap();
        if v.is_some() {
            assert_eq!(d.position(), bytes.len());
        }
        v
    }

    #[test]
    fn integers_from_ints_and_integral_floats() {
        assert_eq!(uint(&[0x03]), Some(3));
        assert_eq!(uint(&[0x1b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]), Some(u64::MAX));
        assert_eq!(uint(&[0xf9, 0x42, 0x00]), Some(3));
        assert_eq!(uint(&[0xfa, 0x40, 0x40, 0x00, 0x00]), Some(3));
        assert_eq!(uint(&[0xfb, 0x40, 0x08, 0, 0, 0, 0, 0, 0]), Some(3));
        // cbor-x's encoding of 2^32 and 2^53.
        assert_eq!(uint(&[0xfb, 0x41, 0xf0, 0, 0, 0, 0, 0, 0]), Some(1 << 32));
        assert_eq!(uint(&[0xfb, 0x43, 0x40, 0, 0, 0, 0, 0, 0]), Some(1 << 53));
    }

    #[test]
    fn non_integers_are_not_uints() {
        assert_eq!(uint(&[0x20]), None); // -1
        assert_eq!(uint(&[0xfb, 0x3f, 0xf8, 0, 0, 0, 0, 0, 0]), None); // 1.5
        assert_eq!(uint(&[0xfb, 0xbf, 0xf0, 0, 0, 0, 0, 0, 0]), None); // -1.0
        assert_eq!(uint(&[0xfb, 0x7f, 0xf8, 0, 0, 0, 0, 0, 0]), None); // NaN
        assert_eq!(uint(&[0xf9, 0x7c, 0x00]), None); // +inf
        assert_eq!(uint(&[0xfb, 0x43, 0xf0, 0, 0, 0, 0, 0, 0]), None); // 2^64
        assert_eq!(uint(&[0x61, 0x33]), None); // "3"
        assert_eq!(uint(&[0xf6]), None); // null
    }

    #[test]
    fn truncated_half_float_is_malformed() {
        let mut d = Decoder::new(&[0xf9, 0x42]);
        assert!(matches!(read_uint(&mut d), Err(WireError::Malformed(_))));
    }

    #[test]
    fn text_and_bytes_in_both_length_encodings() {
        let mut d = Decoder::new(&[0x62, b'h', b'i']);
        assert_eq!(read_text(&mut d).unwrap(), "hi");
        let mut d = Decoder::new(&[0x7f, 0x61, b'h', 0x61, b'i', 0xff]);
        assert_eq!(read_text(&mut d).unwrap(), "hi");
        let mut d = Decoder::new(&[0x5f, 0x41, 1, 0x42, 2, 3, 0xff]);
        assert_eq!(read_bytes(&mut d).unwrap().unwrap().as_ref(), &[1, 2, 3]);
        let mut d = Decoder::new(&[0xd8, 0x40, 0x42, 1, 2]);
        assert_eq!(read_bytes(&mut d).unwrap().unwrap().as_ref(), &[1, 2]);
        // Another tag is not a byte array, and nothing is consumed.
        let mut d = Decoder::new(&[0xd8, 0x41, 0x42, 1, 2]);
        assert!(read_bytes(&mut d).unwrap().is_none());
        assert_eq!(d.position(), 0);
    }

    #[test]
    fn skip_handles_every_kind_of_value() {
        // [1, -1, h'00', "a", 1.5, true, null, undefined, simple(16), {_ "k": [_ 1]}, 0("x"), f16 1.0]
        let v: &[u8] = &[
            0x8c, 0x01, 0x20, 0x41, 0x00, 0x61, b'a', 0xfb, 0x3f, 0xf8, 0, 0, 0, 0, 0, 0, 0xf5, 0xf6, 0xf7, 0xf0, 0xbf,
            0x61, b'k', 0x9f, 0x01, 0xff, 0xff, 0xc0, 0x61, b'x', 0xf9, 0x3c, 0x00,
        ];
        let mut d = Decoder::new(v);
        skip_value(&mut d, 1).unwrap();
        assert_eq!(d.position(), v.len());
    }

    #[test]
    fn skip_bounds_nesting() {
        // `depth` arrays, innermost empty, counted below one enclosing map.
        let nested = |depth: usize| {
            let mut v = vec![0x81; depth - 1];
            v.push(0x80);
            v
        };
        let ok = nested(MAX_NESTING - 1);
        let mut d = Decoder::new(&ok);
        skip_value(&mut d, 1).unwrap();
        let deep = nested(MAX_NESTING);
        let mut d = Decoder::new(&deep);
        assert!(matches!(skip_value(&mut d, 1), Err(WireError::Malformed(m)) if m.contains("nesting")));
        // Tags count as nesting too, so a long tag chain cannot run away.
        let mut tags = vec![0xc0; 1000];
        tags.push(0x00);
        let mut d = Decoder::new(&tags);
        assert!(skip_value(&mut d, 1).is_err());
    }

    #[test]
    fn skip_refuses_stray_break_and_reserved_bytes() {
        assert!(skip_value(&mut Decoder::new(&[0xff]), 1).is_err());
        assert!(skip_value(&mut Decoder::new(&[0x1c]), 1).is_err());
        assert!(skip_value(&mut Decoder::new(&[0xfc]), 1).is_err());
        // A break where a map value belongs.
        assert!(skip_value(&mut Decoder::new(&[0xbf, 0x01, 0xff]), 1).is_err());
        // A lying length prefix runs out of input instead of allocating.
        assert!(
            skip_value(&mut Decoder::new(&[0x9b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]), 1).is_err()
        );
        assert!(skip_value(&mut Decoder::new(&[0x5b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]), 1).is_err());
    }
}
