//! A deliberately tiny reader of Java object serialization (`java.io.ObjectInputStream`), just
//! enough for JCEKS secret-key entries: a `SealedObject` holding an encrypted, serialized
//! `SecretKeySpec` (or a `KeyRep`). It understands objects of plain `Serializable` classes
//! (no custom `writeObject` data, no `Externalizable`), strings, byte arrays, enums and null.
//! Anything else is refused; nothing is instantiated; depth and handle counts are bounded by
//! constants and by the input length.

use std::collections::HashMap;

use crate::Error;
use crate::cursor::Cursor;

const STREAM_MAGIC: u16 = 0xACED;
const STREAM_VERSION: u16 = 5;
const TC_NULL: u8 = 0x70;
const TC_REFERENCE: u8 = 0x71;
const TC_CLASSDESC: u8 = 0x72;
const TC_OBJECT: u8 = 0x73;
const TC_STRING: u8 = 0x74;
const TC_ARRAY: u8 = 0x75;
const TC_ENDBLOCKDATA: u8 = 0x78;
const TC_ENUM: u8 = 0x7E;
const BASE_WIRE_HANDLE: u32 = 0x7E_0000;
const SC_WRITE_METHOD: u8 = 0x01;
const SC_SERIALIZABLE: u8 = 0x02;
const SC_EXTERNALIZABLE: u8 = 0x04;
const MAX_DEPTH: usize = 8;
const MAX_FIELDS: usize = 64;

/// A value read from the stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Value {
    Null,
    Str(String),
    Bytes(Vec<u8>),
    Enum(String),
    Object {
        class: String,
        /// Field name → value, for every class of the hierarchy (subclass fields win on clash).
        fields: HashMap<String, Value>,
    },
    /// A primitive field value (kept only as "present").
    Primitive,
}

impl Value {
    pub(crate) fn field(&self, name: &str) -> Option<&Value> {
        match self {
            Value::Object { fields, .. } => fields.get(name),
            _ => None,
        }
    }

    pub(crate) fn class(&self) -> Option<&str> {
        match self {
            Value::Object { class, .. } => Some(class),
            _ => None,
        }
    }
}

#[derive(Debug, Clone)]
struct ClassDesc {
    name: String,
    flags: u8,
    /// (type code, field name) in stream order.
    fields: Vec<(u8, String)>,
    super_desc: Option<usize>,
}

#[derive(Debug, Clone)]
enum Handle {
    Desc(usize),
    Value(Value),
}

struct Parser<'a, 'c> {
    cur: &'c mut Cursor<'a>,
    descs: Vec<ClassDesc>,
    handles: Vec<Handle>,
    /// Bytes that back references may still copy (strings only): at most the input length.
    budget: usize,
}

fn unsupported(what: &str) -> Error {
    Error::malformed(format!(
        "a JCEKS secret key entry holds Java serialized data this reader does not accept ({what})"
    ))
}

/// Reads one complete stream (`AC ED 00 05` then one object) from `cur`, leaving the cursor just
/// after it.
pub(crate) fn read_stream(cur: &mut Cursor<'_>) -> Result<Value, Error> {
    if cur.u16()? != STREAM_MAGIC || cur.u16()? != STREAM_VERSION {
        return Err(unsupported("no serialization stream header"));
    }
    let budget = cur.remaining();
    let mut p = Parser {
        cur,
        descs: Vec::new(),
        handles: Vec::new(),
        budget,
    };
    p.content(0)
}

impl Parser<'_, '_> {
    fn handle(&mut self) -> Result<&Handle, Error> {
        let h = self.cur.u32()?;
        let idx = h
            .checked_sub(BASE_WIRE_HANDLE)
            .ok_or_else(|| unsupported("bad back reference"))? as usize;
        self.handles
            .get(idx)
            .ok_or_else(|| unsupported("bad back reference"))
    }

    fn new_handle(&mut self, h: Handle) -> usize {
        self.handles.push(h);
        self.handles.len() - 1
    }

    /// A class descriptor (new, reference or null) → index into `descs`.
    fn class_desc(&mut self, depth: usize) -> Result<Option<usize>, Error> {
        if depth > MAX_DEPTH {
            return Err(unsupported("nesting too deep"));
        }
        match self.cur.u8()? {
            TC_NULL => Ok(None),
            TC_REFERENCE => match self.handle()? {
                Handle::Desc(i) => Ok(Some(*i)),
                Handle::Value(_) => Err(unsupported("bad class reference")),
            },
            TC_CLASSDESC => {
                let name = self.cur.utf()?;
                let _serial_version_uid = self.cur.u64()?;
                let desc_index = self.descs.len();
                self.descs.push(ClassDesc {
                    name,
                    flags: 0,
                    fields: Vec::new(),
                    super_desc: None,
                });
                self.new_handle(Handle::Desc(desc_index));
                let flags = self.cur.u8()?;
                let count = usize::from(self.cur.u16()?);
                if count > MAX_FIELDS {
                    return Err(unsupported("too many fields"));
                }
                let mut fields = Vec::new();
                for _ in 0..count {
                    let code = self.cur.u8()?;
                    let fname = self.cur.utf()?;
                    match code {
                        b'B' | b'C' | b'D' | b'F' | b'I' | b'J' | b'S' | b'Z' => {}
                        b'[' | b'L' => {
                            // className1: the field's type as a string object.
                            match self.content(depth + 1)? {
                                Value::Str(_) => {}
                                _ => return Err(unsupported("bad field type name")),
                            }
                        }
                        _ => return Err(unsupported("unknown field type")),
                    }
                    fields.push((code, fname));
                }
                if self.cur.u8()? != TC_ENDBLOCKDATA {
                    return Err(unsupported("class annotations"));
                }
                let super_desc = self.class_desc(depth + 1)?;
                if let Some(d) = self.descs.get_mut(desc_index) {
                    d.flags = flags;
                    d.fields = fields;
                    d.super_desc = super_desc;
                }
                Ok(Some(desc_index))
            }
            _ => Err(unsupported("proxy or unknown class descriptor")),
        }
    }

    fn desc(&self, i: usize) -> Result<&ClassDesc, Error> {
        self.descs
            .get(i)
            .ok_or_else(|| unsupported("bad class reference"))
    }

    fn content(&mut self, depth: usize) -> Result<Value, Error> {
        if depth > MAX_DEPTH {
            return Err(unsupported("nesting too deep"));
        }
        match self.cur.u8()? {
            TC_NULL => Ok(Value::Null),
            TC_REFERENCE => {
                let v = match self.handle()? {
                    // Only strings and enum constants are kept for back references; arrays and
                    // objects are not (keytool never refers back to them).
                    Handle::Value(v @ (Value::Str(_) | Value::Enum(_))) => v.clone(),
                    _ => return Err(unsupported("back reference to an object")),
                };
                let cost = match &v {
                    Value::Str(s) | Value::Enum(s) => s.len().max(1),
                    _ => 1,
                };
                self.budget = self
                    .budget
                    .checked_sub(cost)
                    .ok_or_else(|| unsupported("too many back references"))?;
                Ok(v)
            }
            TC_STRING => {
                let h = self.new_handle(Handle::Value(Value::Null));
                let s = Value::Str(self.cur.utf()?);
                if let Some(slot) = self.handles.get_mut(h) {
                    *slot = Handle::Value(s.clone());
                }
                Ok(s)
            }
            TC_ENUM => {
                let _desc = self.class_desc(depth + 1)?;
                let h = self.new_handle(Handle::Value(Value::Null));
                let v = match self.content(depth + 1)? {
                    Value::Str(s) => Value::Enum(s),
                    _ => return Err(unsupported("bad enum constant")),
                };
                if let Some(slot) = self.handles.get_mut(h) {
                    *slot = Handle::Value(v.clone());
                }
                Ok(v)
            }
            TC_ARRAY => {
                let d = self
                    .class_desc(depth + 1)?
                    .ok_or_else(|| unsupported("array without class"))?;
                if self.desc(d)?.name != "[B" {
                    return Err(unsupported("array other than byte[]"));
                }
                self.new_handle(Handle::Value(Value::Null));
                let len = self.cur.len_u32()?;
                Ok(Value::Bytes(self.cur.take(len)?.to_vec()))
            }
            TC_OBJECT => {
                let d = self
                    .class_desc(depth + 1)?
                    .ok_or_else(|| unsupported("object without class"))?;
                self.new_handle(Handle::Value(Value::Null));
                // Hierarchy, top superclass first.
                let mut chain = Vec::new();
                let mut next = Some(d);
                while let Some(i) = next {
                    if chain.len() > MAX_DEPTH || chain.contains(&i) {
                        return Err(unsupported("class hierarchy too deep"));
                    }
                    chain.push(i);
                    next = self.desc(i)?.super_desc;
                }
                let mut fields = HashMap::new();
                for &i in chain.iter().rev() {
                    let (flags, count) = {
                        let desc = self.desc(i)?;
                        (desc.flags, desc.fields.len())
                    };
                    if flags & (SC_WRITE_METHOD | SC_EXTERNALIZABLE) != 0
                        || flags & SC_SERIALIZABLE == 0
                    {
                        return Err(unsupported("custom serialization"));
                    }
                    for k in 0..count {
                        let (code, name) = match self.desc(i)?.fields.get(k) {
                            Some((code, name)) => (*code, name.clone()),
                            None => return Err(unsupported("bad class reference")),
                        };
                        // Field names are copied per object: charge them to the budget.
                        self.budget = self
                            .budget
                            .checked_sub(name.len().max(1))
                            .ok_or_else(|| unsupported("too many objects"))?;
                        let v = match code {
                            b'B' | b'Z' => self.cur.take(1).map(|_| Value::Primitive)?,
                            b'C' | b'S' => self.cur.take(2).map(|_| Value::Primitive)?,
                            b'F' | b'I' => self.cur.take(4).map(|_| Value::Primitive)?,
                            b'D' | b'J' => self.cur.take(8).map(|_| Value::Primitive)?,
                            _ => self.content(depth + 1)?,
                        };
                        fields.insert(name, v);
                    }
                }
                Ok(Value::Object {
                    class: self.desc(d)?.name.clone(),
                    fields,
                })
            }
            _ => Err(unsupported("unsupported content type")),
        }
    }
}
