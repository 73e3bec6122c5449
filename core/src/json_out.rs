//! JSON output of the machine's own structs (snapshots, actions, registration
//! requests), written into a buffer that never leaves a copy behind.
//!
//! serde_json without `std` writes only into a `Vec` of its own, which it grows by
//! reallocation and frees the outgrown buffers without zeroizing them; a snapshot's text
//! holds the tokens, so every outgrown buffer would leave a token in freed memory. This
//! writer grows its buffer by hand: it copies into a larger one and zeroizes the old one
//! before freeing it, and zeroizes everything it still holds when serialization fails.
//!
//! The text is byte for byte what `serde_json::to_string` writes for the same value (the
//! compact form of RFC 8259: no whitespace, strings escaped as serde_json escapes them:
//! `"`, `\` and the control characters below U+0020 only, the short forms `\b \t \n
//! \f \r` where JSON has them, `\u00XX` with lowercase hex otherwise; RFC 8259 §7).
//! Tests compare the two. Floating-point numbers are refused (the machine serializes
//! none; serde_json would format them with its own shortest-round-trip algorithm), and so
//! are 128-bit integers beyond the 64-bit range (none either; this keeps 128-bit division
//! out of the binaries).

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;
use serde::ser::{self, Serialize};
use zeroize::{Zeroize, Zeroizing};

/// Serialize `value` to a zeroizing string. Serializing the machine's own plain structs
/// cannot fail (string keys only, no floats, no fallible custom serializers); should it
/// ever, the result is empty rather than a panic.
pub(crate) fn to_string<T: Serialize + ?Sized>(value: &T) -> Zeroizing<String> {
    let bytes = to_bytes(value).unwrap_or_default();
    // Only whole `&str`s and ASCII punctuation are written, so the bytes are UTF-8; the
    // fallback (never taken) keeps the buffer zeroizing.
    Zeroizing::new(String::from_utf8(bytes).unwrap_or_default())
}

/// Serialize `value` to bytes (for request bodies); empty on failure, as [`to_string`].
pub(crate) fn to_vec<T: Serialize + ?Sized>(value: &T) -> Vec<u8> {
    to_bytes(value).unwrap_or_default()
}

fn to_bytes<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, Error> {
    let mut out = Out(Vec::new());
    value.serialize(&mut out)?;
    Ok(core::mem::take(&mut out.0))
}

/// Serialization failed: a float, a map key JSON cannot name, or a custom serializer's
/// error. Carries no text (a message could quote a secret).
#[derive(Debug)]
pub(crate) struct Error;

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("value cannot be written as JSON")
    }
}

impl core::error::Error for Error {}

impl ser::Error for Error {
    fn custom<M: fmt::Display>(_msg: M) -> Error {
        Error
    }
}

/// The output buffer: grows by copying, zeroizing what it leaves behind.
struct Out(Vec<u8>);

impl Drop for Out {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl Out {
    fn put(&mut self, bytes: &[u8]) {
        let needed = self.0.len().saturating_add(bytes.len());
        if needed > self.0.capacity() {
            let mut bigger =
                Vec::with_capacity(needed.max(self.0.capacity().saturating_mul(2)).max(128));
            bigger.extend_from_slice(&self.0);
            // Zeroize's Vec impl clears the whole allocation, spare capacity included.
            self.0.zeroize();
            self.0 = bigger;
        }
        self.0.extend_from_slice(bytes);
    }

    fn byte(&mut self, b: u8) {
        self.put(&[b]);
    }

    /// A JSON string: RFC 8259 §7, escaped as serde_json escapes.
    fn string(&mut self, s: &str) {
        self.byte(b'"');
        let bytes = s.as_bytes();
        let mut start = 0;
        for (i, &b) in bytes.iter().enumerate() {
            let short = match b {
                b'"' => b'"',
                b'\\' => b'\\',
                0x08 => b'b',
                0x09 => b't',
                0x0A => b'n',
                0x0C => b'f',
                0x0D => b'r',
                0x00..=0x1F => b'u',
                _ => continue,
            };
            self.put(&bytes[start..i]);
            if short == b'u' {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                self.put(&[
                    b'\\',
                    b'u',
                    b'0',
                    b'0',
                    HEX[usize::from(b >> 4)],
                    HEX[usize::from(b & 0xF)],
                ]);
            } else {
                self.put(&[b'\\', short]);
            }
            start = i + 1;
        }
        self.put(&bytes[start..]);
        self.byte(b'"');
    }

    fn unsigned(&mut self, mut n: u64) {
        let mut digits = [0u8; 20];
        let mut at = digits.len();
        loop {
            at -= 1;
            digits[at] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        self.put(&digits[at..]);
    }

    fn signed(&mut self, n: i64) {
        if n < 0 {
            self.byte(b'-');
        }
        self.unsigned(n.unsigned_abs());
    }
}

/// A sequence, map or struct under way: whether a comma comes before the next item.
struct Compound<'a> {
    out: &'a mut Out,
    first: bool,
    /// Closing bytes: `]`, `}`, or `]}` / `}}` for an enum variant's body.
    close: &'static [u8],
}

impl Compound<'_> {
    fn comma(&mut self) {
        if self.first {
            self.first = false;
        } else {
            self.out.byte(b',');
        }
    }

    fn key(&mut self, key: &str) {
        self.comma();
        self.out.string(key);
        self.out.byte(b':');
    }

    fn close(self) -> Result<(), Error> {
        self.out.put(self.close);
        Ok(())
    }
}

impl Out {
    fn open(&mut self, open: &[u8], close: &'static [u8]) -> Compound<'_> {
        self.put(open);
        Compound {
            out: self,
            first: true,
            close,
        }
    }

    /// `{"variant":` before an enum variant's body.
    fn variant(&mut self, variant: &str) {
        self.byte(b'{');
        self.string(variant);
        self.byte(b':');
    }
}

impl<'a> ser::Serializer for &'a mut Out {
    type Ok = ();
    type Error = Error;
    type SerializeSeq = Compound<'a>;
    type SerializeTuple = Compound<'a>;
    type SerializeTupleStruct = Compound<'a>;
    type SerializeTupleVariant = Compound<'a>;
    type SerializeMap = Compound<'a>;
    type SerializeStruct = Compound<'a>;
    type SerializeStructVariant = Compound<'a>;

    fn serialize_bool(self, v: bool) -> Result<(), Error> {
        self.put(if v { b"true" } else { b"false" });
        Ok(())
    }
    fn serialize_i8(self, v: i8) -> Result<(), Error> {
        self.signed(v.into());
        Ok(())
    }
    fn serialize_i16(self, v: i16) -> Result<(), Error> {
        self.signed(v.into());
        Ok(())
    }
    fn serialize_i32(self, v: i32) -> Result<(), Error> {
        self.signed(v.into());
        Ok(())
    }
    fn serialize_i64(self, v: i64) -> Result<(), Error> {
        self.signed(v);
        Ok(())
    }
    fn serialize_i128(self, v: i128) -> Result<(), Error> {
        self.signed(i64::try_from(v).map_err(|_| Error)?);
        Ok(())
    }
    fn serialize_u8(self, v: u8) -> Result<(), Error> {
        self.unsigned(v.into());
        Ok(())
    }
    fn serialize_u16(self, v: u16) -> Result<(), Error> {
        self.unsigned(v.into());
        Ok(())
    }
    fn serialize_u32(self, v: u32) -> Result<(), Error> {
        self.unsigned(v.into());
        Ok(())
    }
    fn serialize_u64(self, v: u64) -> Result<(), Error> {
        self.unsigned(v);
        Ok(())
    }
    fn serialize_u128(self, v: u128) -> Result<(), Error> {
        self.unsigned(u64::try_from(v).map_err(|_| Error)?);
        Ok(())
    }
    fn serialize_f32(self, _v: f32) -> Result<(), Error> {
        Err(Error)
    }
    fn serialize_f64(self, _v: f64) -> Result<(), Error> {
        Err(Error)
    }
    fn serialize_char(self, v: char) -> Result<(), Error> {
        self.string(v.encode_utf8(&mut [0u8; 4]));
        Ok(())
    }
    fn serialize_str(self, v: &str) -> Result<(), Error> {
        self.string(v);
        Ok(())
    }
    fn serialize_bytes(self, v: &[u8]) -> Result<(), Error> {
        // serde_json writes bytes as an array of numbers.
        let mut seq = self.open(b"[", b"]");
        for &b in v {
            seq.comma();
            seq.out.unsigned(b.into());
        }
        seq.close()
    }
    fn serialize_none(self) -> Result<(), Error> {
        self.put(b"null");
        Ok(())
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<(), Error> {
        value.serialize(self)
    }
    fn serialize_unit(self) -> Result<(), Error> {
        self.put(b"null");
        Ok(())
    }
    fn serialize_unit_struct(self, _name: &'static str) -> Result<(), Error> {
        self.put(b"null");
        Ok(())
    }
    fn serialize_unit_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
    ) -> Result<(), Error> {
        self.string(variant);
        Ok(())
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        value: &T,
    ) -> Result<(), Error> {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<(), Error> {
        self.variant(variant);
        value.serialize(&mut *self)?;
        self.byte(b'}');
        Ok(())
    }
    fn serialize_seq(self, _len: Option<usize>) -> Result<Compound<'a>, Error> {
        Ok(self.open(b"[", b"]"))
    }
    fn serialize_tuple(self, _len: usize) -> Result<Compound<'a>, Error> {
        Ok(self.open(b"[", b"]"))
    }
    fn serialize_tuple_struct(
        self,
        _name: &'static str,
        _len: usize,
    ) -> Result<Compound<'a>, Error> {
        Ok(self.open(b"[", b"]"))
    }
    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        _len: usize,
    ) -> Result<Compound<'a>, Error> {
        self.variant(variant);
        Ok(self.open(b"[", b"]}"))
    }
    fn serialize_map(self, _len: Option<usize>) -> Result<Compound<'a>, Error> {
        Ok(self.open(b"{", b"}"))
    }
    fn serialize_struct(self, _name: &'static str, _len: usize) -> Result<Compound<'a>, Error> {
        Ok(self.open(b"{", b"}"))
    }
    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        _len: usize,
    ) -> Result<Compound<'a>, Error> {
        self.variant(variant);
        Ok(self.open(b"{", b"}}"))
    }
}

impl ser::SerializeSeq for Compound<'_> {
    type Ok = ();
    type Error = Error;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        self.comma();
        value.serialize(&mut *self.out)
    }
    fn end(self) -> Result<(), Error> {
        self.close()
    }
}

impl ser::SerializeTuple for Compound<'_> {
    type Ok = ();
    type Error = Error;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        ser::SerializeSeq::serialize_element(self, value)
    }
    fn end(self) -> Result<(), Error> {
        self.close()
    }
}

impl ser::SerializeTupleStruct for Compound<'_> {
    type Ok = ();
    type Error = Error;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        ser::SerializeSeq::serialize_element(self, value)
    }
    fn end(self) -> Result<(), Error> {
        self.close()
    }
}

impl ser::SerializeTupleVariant for Compound<'_> {
    type Ok = ();
    type Error = Error;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        ser::SerializeSeq::serialize_element(self, value)
    }
    fn end(self) -> Result<(), Error> {
        self.close()
    }
}

impl ser::SerializeMap for Compound<'_> {
    type Ok = ();
    type Error = Error;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), Error> {
        self.comma();
        key.serialize(KeyOut(&mut *self.out))?;
        self.out.byte(b':');
        Ok(())
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        value.serialize(&mut *self.out)
    }
    fn end(self) -> Result<(), Error> {
        self.close()
    }
}

impl ser::SerializeStruct for Compound<'_> {
    type Ok = ();
    type Error = Error;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), Error> {
        self.key(key);
        value.serialize(&mut *self.out)
    }
    fn end(self) -> Result<(), Error> {
        self.close()
    }
}

impl ser::SerializeStructVariant for Compound<'_> {
    type Ok = ();
    type Error = Error;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), Error> {
        ser::SerializeStruct::serialize_field(self, key, value)
    }
    fn end(self) -> Result<(), Error> {
        self.close()
    }
}

/// A map key: a JSON string. Like serde_json, strings, characters, unit variants and
/// newtype structs of those are written as they are; integers and booleans are quoted;
/// anything else is refused.
struct KeyOut<'a>(&'a mut Out);

impl KeyOut<'_> {
    fn quoted(self, write: impl FnOnce(&mut Out)) -> Result<(), Error> {
        self.0.byte(b'"');
        write(self.0);
        self.0.byte(b'"');
        Ok(())
    }
}

impl ser::Serializer for KeyOut<'_> {
    type Ok = ();
    type Error = Error;
    type SerializeSeq = ser::Impossible<(), Error>;
    type SerializeTuple = ser::Impossible<(), Error>;
    type SerializeTupleStruct = ser::Impossible<(), Error>;
    type SerializeTupleVariant = ser::Impossible<(), Error>;
    type SerializeMap = ser::Impossible<(), Error>;
    type SerializeStruct = ser::Impossible<(), Error>;
    type SerializeStructVariant = ser::Impossible<(), Error>;

    fn serialize_bool(self, v: bool) -> Result<(), Error> {
        self.quoted(|o| o.put(if v { b"true" } else { b"false" }))
    }
    fn serialize_i8(self, v: i8) -> Result<(), Error> {
        self.quoted(|o| o.signed(v.into()))
    }
    fn serialize_i16(self, v: i16) -> Result<(), Error> {
        self.quoted(|o| o.signed(v.into()))
    }
    fn serialize_i32(self, v: i32) -> Result<(), Error> {
        self.quoted(|o| o.signed(v.into()))
    }
    fn serialize_i64(self, v: i64) -> Result<(), Error> {
        self.quoted(|o| o.signed(v))
    }
    fn serialize_i128(self, v: i128) -> Result<(), Error> {
        let v = i64::try_from(v).map_err(|_| Error)?;
        self.quoted(|o| o.signed(v))
    }
    fn serialize_u8(self, v: u8) -> Result<(), Error> {
        self.quoted(|o| o.unsigned(v.into()))
    }
    fn serialize_u16(self, v: u16) -> Result<(), Error> {
        self.quoted(|o| o.unsigned(v.into()))
    }
    fn serialize_u32(self, v: u32) -> Result<(), Error> {
        self.quoted(|o| o.unsigned(v.into()))
    }
    fn serialize_u64(self, v: u64) -> Result<(), Error> {
        self.quoted(|o| o.unsigned(v))
    }
    fn serialize_u128(self, v: u128) -> Result<(), Error> {
        let v = u64::try_from(v).map_err(|_| Error)?;
        self.quoted(|o| o.unsigned(v))
    }
    fn serialize_f32(self, _v: f32) -> Result<(), Error> {
        Err(Error)
    }
    fn serialize_f64(self, _v: f64) -> Result<(), Error> {
        Err(Error)
    }
    fn serialize_char(self, v: char) -> Result<(), Error> {
        self.0.string(v.encode_utf8(&mut [0u8; 4]));
        Ok(())
    }
    fn serialize_str(self, v: &str) -> Result<(), Error> {
        self.0.string(v);
        Ok(())
    }
    fn serialize_bytes(self, _v: &[u8]) -> Result<(), Error> {
        Err(Error)
    }
    fn serialize_none(self) -> Result<(), Error> {
        Err(Error)
    }
    fn serialize_some<T: Serialize + ?Sized>(self, _value: &T) -> Result<(), Error> {
        Err(Error)
    }
    fn serialize_unit(self) -> Result<(), Error> {
        Err(Error)
    }
    fn serialize_unit_struct(self, _name: &'static str) -> Result<(), Error> {
        Err(Error)
    }
    fn serialize_unit_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
    ) -> Result<(), Error> {
        self.0.string(variant);
        Ok(())
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        value: &T,
    ) -> Result<(), Error> {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _value: &T,
    ) -> Result<(), Error> {
        Err(Error)
    }
    fn serialize_seq(self, _len: Option<usize>) -> Result<Self::SerializeSeq, Error> {
        Err(Error)
    }
    fn serialize_tuple(self, _len: usize) -> Result<Self::SerializeTuple, Error> {
        Err(Error)
    }
    fn serialize_tuple_struct(
        self,
        _name: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeTupleStruct, Error> {
        Err(Error)
    }
    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeTupleVariant, Error> {
        Err(Error)
    }
    fn serialize_map(self, _len: Option<usize>) -> Result<Self::SerializeMap, Error> {
        Err(Error)
    }
    fn serialize_struct(
        self,
        _name: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeStruct, Error> {
        Err(Error)
    }
    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeStructVariant, Error> {
        Err(Error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::collections::BTreeMap;
    use alloc::vec;
    use proptest::prelude::*;

    #[derive(serde::Serialize)]
    enum E {
        Unit,
        New(String),
        Tuple(u8, i64),
        Struct { a: Option<String>, b: Vec<u32> },
    }

    #[derive(serde::Serialize)]
    struct S {
        text: String,
        n: u64,
        i: i64,
        flag: bool,
        none: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        skipped: Option<String>,
        list: Vec<String>,
        map: BTreeMap<String, String>,
        nums: BTreeMap<u32, bool>,
        pair: (char, &'static str),
        unit: (),
        e: Vec<E>,
    }

    fn same<T: Serialize>(value: &T) {
        let ours = to_string(value);
        let theirs = serde_json::to_string(value).unwrap();
        assert_eq!(ours.as_str(), theirs);
        assert_eq!(to_vec(value), theirs.into_bytes());
    }

    fn sample(text: String, n: u64, i: i64) -> S {
        let mut map = BTreeMap::new();
        map.insert(text.clone(), text.clone());
        map.insert(String::new(), String::from("\u{7f}\u{0}é"));
        let mut nums = BTreeMap::new();
        nums.insert(n as u32, true);
        nums.insert(0, false);
        S {
            text: text.clone(),
            n,
            i,
            flag: n % 2 == 0,
            none: None,
            skipped: None,
            list: vec![text.clone(), String::new()],
            map,
            nums,
            pair: ('"', "\\"),
            unit: (),
            e: vec![
                E::Unit,
                E::New(text.clone()),
                E::Tuple(7, i),
                E::Struct {
                    a: Some(text),
                    b: vec![],
                },
            ],
        }
    }

    #[test]
    fn every_control_character_is_escaped_as_serde_json_does() {
        let all: String = (0u8..=0x7f).map(char::from).collect();
        same(&sample(all, u64::MAX, i64::MIN));
        same(&sample(String::from("日本 \u{2028} 🙂"), 0, 0));
    }

    #[test]
    fn floats_are_refused_not_misformatted() {
        assert!(to_string(&1.5f64).is_empty());
        assert!(to_vec(&[1.0f32]).is_empty());
        assert!(to_string(&u128::MAX).is_empty());
        same(&(u128::from(u64::MAX), i128::from(i64::MIN)));
    }

    proptest! {
        #[test]
        fn writes_what_serde_json_writes(text in any::<String>(), n in any::<u64>(), i in any::<i64>()) {
            same(&sample(text, n, i));
        }
    }
}
