//! A small, bounded pickle virtual machine, enough for what `torch.save` writes.
//!
//! It never runs Python code: globals and calls are recorded as data
//! ([`Obj::Global`], [`Obj::Call`]) for the torch layer to interpret. Objects
//! live in an arena and refer to each other by index, so shared references
//! (memo hits) are cheap, cycles cannot leak, and dropping a deeply nested
//! structure never recurses. Every length read from the stream is checked
//! against the bytes that remain before anything is allocated.

use std::collections::HashMap;
use std::fmt;

/// Index of an object in [`Pickle::objs`].
pub(crate) type ObjId = usize;

/// One unpickled value.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Obj {
    None,
    Bool(bool),
    Int(i64),
    /// An integer that does not fit in i64: little-endian two's complement bytes.
    BigInt(Vec<u8>),
    Float(f64),
    Str(String),
    Bytes(Vec<u8>),
    Tuple(Vec<ObjId>),
    List(Vec<ObjId>),
    /// Insertion-ordered pairs; a repeated key is kept twice (readers take the last).
    Dict(Vec<(ObjId, ObjId)>),
    Set(Vec<ObjId>),
    Global {
        module: String,
        name: String,
    },
    /// `callable(*args)` (REDUCE) or `cls.__new__(cls, *args)` (NEWOBJ), not evaluated.
    /// `items`/`appended` collect SETITEM(S)/APPEND(S) applied to the result
    /// (dict and list subclasses), `state` the last BUILD argument.
    Call {
        callable: ObjId,
        args: ObjId,
        state: Option<ObjId>,
        items: Vec<(ObjId, ObjId)>,
        appended: Vec<ObjId>,
    },
    /// What `persistent_load(pid)` would return; torch uses it for storages.
    PersistentId(ObjId),
}

/// Hard ceilings that keep a hostile stream from exhausting memory.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    pub max_objects: usize,
    pub max_stack: usize,
    pub max_memo: usize,
    pub max_marks: usize,
    /// Longest text line (GLOBAL module/name, text INT, ...).
    pub max_line: usize,
    /// Longest LONG1/LONG4 integer, in bytes.
    pub max_long_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_objects: 1 << 25,
            max_stack: 1 << 24,
            max_memo: 1 << 24,
            max_marks: 1 << 16,
            max_line: 4096,
            max_long_bytes: 4096,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum PickleErrorKind {
    /// The stream ended in the middle of an opcode or before STOP.
    Truncated(String),
    /// A byte that is not a pickle opcode.
    UnknownOpcode(u8),
    /// A real opcode this reader deliberately does not implement.
    UnsupportedOpcode(&'static str),
    /// Well-formed bytes that make no sense (stack underflow, bad memo key, ...).
    Invalid(String),
    /// A size or count beyond [`Limits`].
    Limit(String),
}

/// A pickle failure with the byte offset of the opcode that caused it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PickleError {
    pub offset: usize,
    pub kind: PickleErrorKind,
}

impl fmt::Display for PickleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            PickleErrorKind::Truncated(what) => {
                write!(f, "pickle ends early at offset {}: {what}", self.offset)
            }
            PickleErrorKind::UnknownOpcode(op) => write!(
                f,
                "unknown pickle opcode 0x{op:02x} ({:?}) at offset {}",
                char::from(*op),
                self.offset
            ),
            PickleErrorKind::UnsupportedOpcode(name) => write!(
                f,
                "pickle opcode {name} at offset {} is not supported",
                self.offset
            ),
            PickleErrorKind::Invalid(why) => {
                write!(f, "invalid pickle at offset {}: {why}", self.offset)
            }
            PickleErrorKind::Limit(why) => {
                write!(f, "pickle at offset {} exceeds a limit: {why}", self.offset)
            }
        }
    }
}

impl std::error::Error for PickleError {}

/// A fully unpickled stream: the object arena and the root object.
#[derive(Debug)]
pub(crate) struct Pickle {
    objs: Vec<Obj>,
    root: ObjId,
    /// Offset just past the STOP opcode, where the next pickle may start.
    end: usize,
}

impl Pickle {
    pub fn root(&self) -> ObjId {
        self.root
    }

    pub fn end(&self) -> usize {
        self.end
    }

    pub fn obj(&self, id: ObjId) -> &Obj {
        // Ids only come from this arena, so they are always in range.
        &self.objs[id]
    }

    pub fn objs(&self) -> &[Obj] {
        &self.objs
    }

    pub fn as_str(&self, id: ObjId) -> Option<&str> {
        match self.obj(id) {
            Obj::Str(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_int(&self, id: ObjId) -> Option<i64> {
        match self.obj(id) {
            Obj::Int(v) => Some(*v),
            Obj::Bool(b) => Some(i64::from(*b)),
            _ => None,
        }
    }

    /// Integers up to 128 bits, including big LONG1 values such as torch's magic number.
    pub fn as_i128(&self, id: ObjId) -> Option<i128> {
        match self.obj(id) {
            Obj::Int(v) => Some(i128::from(*v)),
            Obj::BigInt(bytes) if bytes.len() <= 16 => Some(le_to_i128(bytes)),
            _ => None,
        }
    }

    /// Elements of a tuple or list.
    pub fn as_seq(&self, id: ObjId) -> Option<&[ObjId]> {
        match self.obj(id) {
            Obj::Tuple(v) | Obj::List(v) => Some(v),
            _ => None,
        }
    }

    /// Items of a dict, or of an object of a dict subclass (e.g. OrderedDict built by NEWOBJ).
    pub fn as_dict(&self, id: ObjId) -> Option<&[(ObjId, ObjId)]> {
        match self.obj(id) {
            Obj::Dict(items) => Some(items),
            Obj::Call { items, .. } if !items.is_empty() => Some(items),
            _ => None,
        }
    }

    pub fn as_global(&self, id: ObjId) -> Option<(&str, &str)> {
        match self.obj(id) {
            Obj::Global { module, name } => Some((module, name)),
            _ => None,
        }
    }

    /// Value stored under the string key `key` in a dict (last one wins, like Python).
    pub fn dict_get(&self, id: ObjId, key: &str) -> Option<ObjId> {
        self.as_dict(id)?
            .iter()
            .rev()
            .find(|(k, _)| self.as_str(*k) == Some(key))
            .map(|(_, v)| *v)
    }

    /// A short description for error messages.
    pub fn describe(&self, id: ObjId) -> String {
        match self.obj(id) {
            Obj::None => "None".into(),
            Obj::Bool(_) => "a bool".into(),
            Obj::Int(_) | Obj::BigInt(_) => "an int".into(),
            Obj::Float(_) => "a float".into(),
            Obj::Str(_) => "a string".into(),
            Obj::Bytes(_) => "bytes".into(),
            Obj::Tuple(_) => "a tuple".into(),
            Obj::List(_) => "a list".into(),
            Obj::Dict(_) => "a dict".into(),
            Obj::Set(_) => "a set".into(),
            Obj::Global { module, name } => format!("the global {module}.{name}"),
            Obj::Call { callable, .. } => match self.as_global(*callable) {
                Some((m, n)) => format!("an object built by {m}.{n}"),
                None => "an object".into(),
            },
            Obj::PersistentId(_) => "a persistent reference".into(),
        }
    }
}

fn le_to_i128(bytes: &[u8]) -> i128 {
    // Sign-extend from the top byte, then shift the bytes in from the most significant end.
    let negative = bytes.last().is_some_and(|b| b & 0x80 != 0);
    let mut v: i128 = if negative { -1 } else { 0 };
    for &b in bytes.iter().rev() {
        v = (v << 8) | i128::from(b);
    }
    v
}

/// Decode a little-endian two's complement integer as produced by LONG1/LONG4.
fn decode_long(bytes: &[u8]) -> Obj {
    if bytes.len() <= 8 {
        // le_to_i128 of at most 8 bytes always fits in i64.
        Obj::Int(le_to_i128(bytes) as i64)
    } else {
        let v = if bytes.len() <= 16 {
            Some(le_to_i128(bytes))
        } else {
            None
        };
        match v.and_then(|v| i64::try_from(v).ok()) {
            Some(small) => Obj::Int(small),
            None => Obj::BigInt(bytes.to_vec()),
        }
    }
}

mod op {
    pub const MARK: u8 = b'(';
    pub const STOP: u8 = b'.';
    pub const POP: u8 = b'0';
    pub const POP_MARK: u8 = b'1';
    pub const DUP: u8 = b'2';
    pub const FLOAT: u8 = b'F';
    pub const INT: u8 = b'I';
    pub const BININT: u8 = b'J';
    pub const BININT1: u8 = b'K';
    pub const LONG: u8 = b'L';
    pub const BININT2: u8 = b'M';
    pub const NONE: u8 = b'N';
    pub const PERSID: u8 = b'P';
    pub const BINPERSID: u8 = b'Q';
    pub const REDUCE: u8 = b'R';
    pub const STRING: u8 = b'S';
    pub const BINSTRING: u8 = b'T';
    pub const SHORT_BINSTRING: u8 = b'U';
    pub const UNICODE: u8 = b'V';
    pub const BINUNICODE: u8 = b'X';
    pub const APPEND: u8 = b'a';
    pub const BUILD: u8 = b'b';
    pub const GLOBAL: u8 = b'c';
    pub const DICT: u8 = b'd';
    pub const EMPTY_DICT: u8 = b'}';
    pub const APPENDS: u8 = b'e';
    pub const GET: u8 = b'g';
    pub const BINGET: u8 = b'h';
    pub const INST: u8 = b'i';
    pub const LONG_BINGET: u8 = b'j';
    pub const LIST: u8 = b'l';
    pub const EMPTY_LIST: u8 = b']';
    pub const OBJ: u8 = b'o';
    pub const PUT: u8 = b'p';
    pub const BINPUT: u8 = b'q';
    pub const LONG_BINPUT: u8 = b'r';
    pub const SETITEM: u8 = b's';
    pub const TUPLE: u8 = b't';
    pub const EMPTY_TUPLE: u8 = b')';
    pub const SETITEMS: u8 = b'u';
    pub const BINFLOAT: u8 = b'G';
    pub const PROTO: u8 = 0x80;
    pub const NEWOBJ: u8 = 0x81;
    pub const EXT1: u8 = 0x82;
    pub const EXT2: u8 = 0x83;
    pub const EXT4: u8 = 0x84;
    pub const TUPLE1: u8 = 0x85;
    pub const TUPLE2: u8 = 0x86;
    pub const TUPLE3: u8 = 0x87;
    pub const NEWTRUE: u8 = 0x88;
    pub const NEWFALSE: u8 = 0x89;
    pub const LONG1: u8 = 0x8a;
    pub const LONG4: u8 = 0x8b;
    pub const BINBYTES: u8 = b'B';
    pub const SHORT_BINBYTES: u8 = b'C';
    pub const SHORT_BINUNICODE: u8 = 0x8c;
    pub const BINUNICODE8: u8 = 0x8d;
    pub const BINBYTES8: u8 = 0x8e;
    pub const EMPTY_SET: u8 = 0x8f;
    pub const ADDITEMS: u8 = 0x90;
    pub const FROZENSET: u8 = 0x91;
    pub const NEWOBJ_EX: u8 = 0x92;
    pub const STACK_GLOBAL: u8 = 0x93;
    pub const MEMOIZE: u8 = 0x94;
    pub const FRAME: u8 = 0x95;
    pub const BYTEARRAY8: u8 = 0x96;
    pub const NEXT_BUFFER: u8 = 0x97;
    pub const READONLY_BUFFER: u8 = 0x98;
}

/// Unpickle one stream from `data[start..]`, stopping at its STOP opcode.
pub(crate) fn parse(data: &[u8], start: usize) -> Result<Pickle, PickleError> {
    parse_with_limits(data, start, Limits::default())
}

pub(crate) fn parse_with_limits(
    data: &[u8],
    start: usize,
    limits: Limits,
) -> Result<Pickle, PickleError> {
    let mut vm = Vm {
        data,
        pos: start,
        op_start: start,
        limits,
        objs: Vec::new(),
        stack: Vec::new(),
        marks: Vec::new(),
        memo: HashMap::new(),
    };
    let root = vm.run()?;
    Ok(Pickle {
        objs: vm.objs,
        root,
        end: vm.pos,
    })
}

struct Vm<'a> {
    data: &'a [u8],
    pos: usize,
    /// Offset of the opcode being executed, for error messages.
    op_start: usize,
    limits: Limits,
    objs: Vec<Obj>,
    stack: Vec<ObjId>,
    /// Stack heights at each MARK.
    marks: Vec<usize>,
    memo: HashMap<u64, ObjId>,
}

impl Vm<'_> {
    fn err(&self, kind: PickleErrorKind) -> PickleError {
        PickleError {
            offset: self.op_start,
            kind,
        }
    }

    fn invalid(&self, why: impl Into<String>) -> PickleError {
        self.err(PickleErrorKind::Invalid(why.into()))
    }

    fn remaining(&self) -> usize {
        self.data.len().saturating_sub(self.pos)
    }

    /// Take `n` bytes of argument, refusing before any allocation if they are not there.
    fn take(&mut self, n: usize, what: &str) -> Result<&[u8], PickleError> {
        if n > self.remaining() {
            return Err(self.err(PickleErrorKind::Truncated(format!(
                "{what} needs {n} bytes but only {} remain",
                self.remaining()
            ))));
        }
        let s = &self.data[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    fn take_array<const N: usize>(&mut self, what: &str) -> Result<[u8; N], PickleError> {
        let bytes = self.take(N, what)?;
        let mut out = [0u8; N];
        out.copy_from_slice(bytes);
        Ok(out)
    }

    fn u8(&mut self, what: &str) -> Result<u8, PickleError> {
        Ok(self.take_array::<1>(what)?[0])
    }

    fn u16(&mut self, what: &str) -> Result<u16, PickleError> {
        Ok(u16::from_le_bytes(self.take_array(what)?))
    }

    fn u32(&mut self, what: &str) -> Result<u32, PickleError> {
        Ok(u32::from_le_bytes(self.take_array(what)?))
    }

    fn i32(&mut self, what: &str) -> Result<i32, PickleError> {
        Ok(i32::from_le_bytes(self.take_array(what)?))
    }

    fn u64(&mut self, what: &str) -> Result<u64, PickleError> {
        Ok(u64::from_le_bytes(self.take_array(what)?))
    }

    /// A length prefix converted to usize; the later `take` checks it against the data.
    fn len_u64(&self, n: u64) -> Result<usize, PickleError> {
        usize::try_from(n).map_err(|_| self.err(PickleErrorKind::Limit(format!("length {n}"))))
    }

    /// A newline-terminated text argument (text opcodes, GLOBAL).
    fn line(&mut self, what: &str) -> Result<&[u8], PickleError> {
        let window = &self.data[self.pos.min(self.data.len())..];
        let window = &window[..window.len().min(self.limits.max_line + 1)];
        match window.iter().position(|&b| b == b'\n') {
            Some(n) => {
                let s = &self.data[self.pos..self.pos + n];
                self.pos += n + 1;
                Ok(s)
            }
            None if window.len() > self.limits.max_line => Err(self.err(PickleErrorKind::Limit(
                format!("{what} line longer than {} bytes", self.limits.max_line),
            ))),
            None => Err(self.err(PickleErrorKind::Truncated(format!(
                "{what} has no terminating newline"
            )))),
        }
    }

    fn line_str(&mut self, what: &str) -> Result<String, PickleError> {
        let bytes = self.line(what)?;
        // Text opcodes are ASCII; map bytes one to one (latin-1) so nothing can fail.
        Ok(bytes.iter().map(|&b| char::from(b)).collect())
    }

    fn alloc(&mut self, obj: Obj) -> Result<ObjId, PickleError> {
        if self.objs.len() >= self.limits.max_objects {
            return Err(self.err(PickleErrorKind::Limit(format!(
                "more than {} objects",
                self.limits.max_objects
            ))));
        }
        self.objs.push(obj);
        Ok(self.objs.len() - 1)
    }

    fn push_id(&mut self, id: ObjId) -> Result<(), PickleError> {
        if self.stack.len() >= self.limits.max_stack {
            return Err(self.err(PickleErrorKind::Limit(format!(
                "stack deeper than {}",
                self.limits.max_stack
            ))));
        }
        self.stack.push(id);
        Ok(())
    }

    fn push(&mut self, obj: Obj) -> Result<(), PickleError> {
        let id = self.alloc(obj)?;
        self.push_id(id)
    }

    fn pop(&mut self) -> Result<ObjId, PickleError> {
        // Items below the innermost MARK belong to an enclosing construct.
        let floor = self.marks.last().copied().unwrap_or(0);
        if self.stack.len() <= floor {
            return Err(self.invalid("stack underflow"));
        }
        self.stack
            .pop()
            .ok_or_else(|| self.invalid("stack underflow"))
    }

    fn top(&self) -> Result<ObjId, PickleError> {
        let floor = self.marks.last().copied().unwrap_or(0);
        if self.stack.len() <= floor {
            return Err(self.invalid("stack underflow"));
        }
        self.stack
            .last()
            .copied()
            .ok_or_else(|| self.invalid("stack underflow"))
    }

    fn pop_mark(&mut self) -> Result<Vec<ObjId>, PickleError> {
        let mark = self
            .marks
            .pop()
            .ok_or_else(|| self.invalid("no MARK on the stack"))?;
        Ok(self.stack.split_off(mark))
    }

    fn memo_put(&mut self, key: u64) -> Result<(), PickleError> {
        let top = self.top()?;
        if self.memo.len() >= self.limits.max_memo && !self.memo.contains_key(&key) {
            return Err(self.err(PickleErrorKind::Limit(format!(
                "more than {} memo entries",
                self.limits.max_memo
            ))));
        }
        self.memo.insert(key, top);
        Ok(())
    }

    fn memo_get(&mut self, key: u64) -> Result<(), PickleError> {
        let id = *self
            .memo
            .get(&key)
            .ok_or_else(|| self.invalid(format!("memo key {key} was never stored")))?;
        self.push_id(id)
    }

    fn str_obj(&mut self, len: usize, what: &str) -> Result<(), PickleError> {
        let bytes = self.take(len, what)?.to_vec();
        let s = String::from_utf8(bytes).map_err(|_| self.invalid("string is not valid UTF-8"))?;
        self.push(Obj::Str(s))
    }

    /// Python 2 `str` (BINSTRING): decoded byte for byte like torch's `encoding="latin1"`.
    fn latin1_obj(&mut self, len: usize, what: &str) -> Result<(), PickleError> {
        let s: String = self
            .take(len, what)?
            .iter()
            .map(|&b| char::from(b))
            .collect();
        self.push(Obj::Str(s))
    }

    fn bytes_obj(&mut self, len: usize, what: &str) -> Result<(), PickleError> {
        let bytes = self.take(len, what)?.to_vec();
        self.push(Obj::Bytes(bytes))
    }

    fn long_obj(&mut self, len: usize) -> Result<(), PickleError> {
        if len > self.limits.max_long_bytes {
            return Err(self.err(PickleErrorKind::Limit(format!(
                "integer of {len} bytes (at most {})",
                self.limits.max_long_bytes
            ))));
        }
        let obj = decode_long(self.take(len, "LONG")?);
        self.push(obj)
    }

    fn setitems(&mut self, target: ObjId, flat: Vec<ObjId>) -> Result<(), PickleError> {
        if !flat.len().is_multiple_of(2) {
            return Err(self.invalid("SETITEMS with an odd number of items"));
        }
        let pairs = flat.chunks_exact(2).map(|kv| (kv[0], kv[1]));
        match &mut self.objs[target] {
            Obj::Dict(items) | Obj::Call { items, .. } => {
                items.extend(pairs);
                Ok(())
            }
            _ => Err(self.invalid("SETITEM on an object that is not a dict")),
        }
    }

    fn appends(&mut self, target: ObjId, values: Vec<ObjId>) -> Result<(), PickleError> {
        match &mut self.objs[target] {
            Obj::List(items)
            | Obj::Call {
                appended: items, ..
            } => {
                items.extend(values);
                Ok(())
            }
            _ => Err(self.invalid("APPEND on an object that is not a list")),
        }
    }

    /// `callable(*args)`: dict constructors become real dicts so SETITEMS can fill them.
    fn call(&mut self, callable: ObjId, args: ObjId) -> Result<Obj, PickleError> {
        let is_dict_ctor = matches!(
            self.objs[callable],
            Obj::Global { ref module, ref name }
                if (module == "collections" && name == "OrderedDict")
                    || ((module == "builtins" || module == "__builtin__") && name == "dict")
        );
        let arg_ids = match &self.objs[args] {
            Obj::Tuple(v) => v.clone(),
            _ => return Err(self.invalid("REDUCE arguments are not a tuple")),
        };
        if is_dict_ctor {
            match arg_ids.as_slice() {
                [] => return Ok(Obj::Dict(Vec::new())),
                // Python 2 OrderedDict pickles its items as ([[k, v], ...],).
                [items] => {
                    if let Some(pairs) = self.pairs_of(*items) {
                        return Ok(Obj::Dict(pairs));
                    }
                }
                _ => {}
            }
        }
        Ok(Obj::Call {
            callable,
            args,
            state: None,
            items: Vec::new(),
            appended: Vec::new(),
        })
    }

    fn pairs_of(&self, id: ObjId) -> Option<Vec<(ObjId, ObjId)>> {
        match &self.objs[id] {
            Obj::Dict(items) => Some(items.clone()),
            Obj::List(v) | Obj::Tuple(v) => v
                .iter()
                .map(|&p| match &self.objs[p] {
                    Obj::List(kv) | Obj::Tuple(kv) if kv.len() == 2 => Some((kv[0], kv[1])),
                    _ => None,
                })
                .collect(),
            _ => None,
        }
    }

    fn run(&mut self) -> Result<ObjId, PickleError> {
        loop {
            self.op_start = self.pos;
            if self.pos >= self.data.len() {
                return Err(self.err(PickleErrorKind::Truncated(
                    "stream ends before the STOP opcode".into(),
                )));
            }
            let code = self.data[self.pos];
            self.pos += 1;
            match code {
                op::PROTO => {
                    let version = self.u8("PROTO")?;
                    if version > 5 {
                        return Err(self.invalid(format!("unknown protocol {version}")));
                    }
                }
                op::FRAME => {
                    // Frames only group opcodes for buffered I/O; we read from memory.
                    let len = self.u64("FRAME")?;
                    let len = self.len_u64(len)?;
                    if len > self.remaining() {
                        return Err(self.err(PickleErrorKind::Truncated(format!(
                            "frame of {len} bytes but only {} remain",
                            self.remaining()
                        ))));
                    }
                }
                op::STOP => return self.pop(),
                op::MARK => {
                    if self.marks.len() >= self.limits.max_marks {
                        return Err(self.err(PickleErrorKind::Limit(format!(
                            "more than {} nested MARKs",
                            self.limits.max_marks
                        ))));
                    }
                    self.marks.push(self.stack.len());
                }
                op::POP => {
                    // Python's POP also discards a bare MARK.
                    let floor = self.marks.last().copied();
                    if floor == Some(self.stack.len()) {
                        self.marks.pop();
                    } else {
                        self.pop()?;
                    }
                }
                op::POP_MARK => {
                    self.pop_mark()?;
                }
                op::DUP => {
                    let top = self.top()?;
                    self.push_id(top)?;
                }

                op::NONE => self.push(Obj::None)?,
                op::NEWTRUE => self.push(Obj::Bool(true))?,
                op::NEWFALSE => self.push(Obj::Bool(false))?,
                op::BININT => {
                    let v = self.i32("BININT")?;
                    self.push(Obj::Int(i64::from(v)))?;
                }
                op::BININT1 => {
                    let v = self.u8("BININT1")?;
                    self.push(Obj::Int(i64::from(v)))?;
                }
                op::BININT2 => {
                    let v = self.u16("BININT2")?;
                    self.push(Obj::Int(i64::from(v)))?;
                }
                op::LONG1 => {
                    let n = usize::from(self.u8("LONG1")?);
                    self.long_obj(n)?;
                }
                op::LONG4 => {
                    let n = self.i32("LONG4")?;
                    let n = usize::try_from(n)
                        .map_err(|_| self.invalid("LONG4 with a negative length"))?;
                    self.long_obj(n)?;
                }
                op::INT => {
                    let text = self.line_str("INT")?;
                    let obj = match text.as_str() {
                        // Protocol 0 spells booleans as INT 00 / 01.
                        "00" => Obj::Bool(false),
                        "01" => Obj::Bool(true),
                        t => Obj::Int(
                            t.parse()
                                .map_err(|_| self.invalid(format!("bad INT literal {t:?}")))?,
                        ),
                    };
                    self.push(obj)?;
                }
                op::LONG => {
                    let text = self.line_str("LONG")?;
                    let digits = text.strip_suffix('L').unwrap_or(&text);
                    let v: i64 = digits
                        .parse()
                        .map_err(|_| self.invalid(format!("bad LONG literal {text:?}")))?;
                    self.push(Obj::Int(v))?;
                }
                op::BINFLOAT => {
                    // The only big-endian value in the pickle format.
                    let v = f64::from_be_bytes(self.take_array("BINFLOAT")?);
                    self.push(Obj::Float(v))?;
                }
                op::FLOAT => {
                    let text = self.line_str("FLOAT")?;
                    let v: f64 = text
                        .parse()
                        .map_err(|_| self.invalid(format!("bad FLOAT literal {text:?}")))?;
                    self.push(Obj::Float(v))?;
                }

                op::BINUNICODE => {
                    let n = self.u32("BINUNICODE")?;
                    let n = self.len_u64(u64::from(n))?;
                    self.str_obj(n, "BINUNICODE")?;
                }
                op::SHORT_BINUNICODE => {
                    let n = usize::from(self.u8("SHORT_BINUNICODE")?);
                    self.str_obj(n, "SHORT_BINUNICODE")?;
                }
                op::BINUNICODE8 => {
                    let n = self.u64("BINUNICODE8")?;
                    let n = self.len_u64(n)?;
                    self.str_obj(n, "BINUNICODE8")?;
                }
                op::BINSTRING => {
                    let n = self.i32("BINSTRING")?;
                    let n = usize::try_from(n)
                        .map_err(|_| self.invalid("BINSTRING with a negative length"))?;
                    self.latin1_obj(n, "BINSTRING")?;
                }
                op::SHORT_BINSTRING => {
                    let n = usize::from(self.u8("SHORT_BINSTRING")?);
                    self.latin1_obj(n, "SHORT_BINSTRING")?;
                }
                op::BINBYTES => {
                    let n = self.u32("BINBYTES")?;
                    let n = self.len_u64(u64::from(n))?;
                    self.bytes_obj(n, "BINBYTES")?;
                }
                op::SHORT_BINBYTES => {
                    let n = usize::from(self.u8("SHORT_BINBYTES")?);
                    self.bytes_obj(n, "SHORT_BINBYTES")?;
                }
                op::BINBYTES8 | op::BYTEARRAY8 => {
                    let n = self.u64("BINBYTES8")?;
                    let n = self.len_u64(n)?;
                    self.bytes_obj(n, "BINBYTES8")?;
                }

                op::EMPTY_DICT => self.push(Obj::Dict(Vec::new()))?,
                op::EMPTY_LIST => self.push(Obj::List(Vec::new()))?,
                op::EMPTY_TUPLE => self.push(Obj::Tuple(Vec::new()))?,
                op::EMPTY_SET => self.push(Obj::Set(Vec::new()))?,
                op::TUPLE => {
                    let items = self.pop_mark()?;
                    self.push(Obj::Tuple(items))?;
                }
                op::TUPLE1 | op::TUPLE2 | op::TUPLE3 => {
                    let n = usize::from(code - op::TUPLE1 + 1);
                    let mut items = Vec::with_capacity(n);
                    for _ in 0..n {
                        items.push(self.pop()?);
                    }
                    items.reverse();
                    self.push(Obj::Tuple(items))?;
                }
                op::LIST => {
                    let items = self.pop_mark()?;
                    self.push(Obj::List(items))?;
                }
                op::DICT => {
                    let flat = self.pop_mark()?;
                    if flat.len() % 2 != 0 {
                        return Err(self.invalid("DICT with an odd number of items"));
                    }
                    let pairs = flat.chunks_exact(2).map(|kv| (kv[0], kv[1])).collect();
                    self.push(Obj::Dict(pairs))?;
                }
                op::FROZENSET => {
                    let items = self.pop_mark()?;
                    self.push(Obj::Set(items))?;
                }
                op::SETITEM => {
                    let value = self.pop()?;
                    let key = self.pop()?;
                    let target = self.top()?;
                    self.setitems(target, vec![key, value])?;
                }
                op::SETITEMS => {
                    let flat = self.pop_mark()?;
                    let target = self.top()?;
                    self.setitems(target, flat)?;
                }
                op::APPEND => {
                    let value = self.pop()?;
                    let target = self.top()?;
                    self.appends(target, vec![value])?;
                }
                op::APPENDS => {
                    let values = self.pop_mark()?;
                    let target = self.top()?;
                    self.appends(target, values)?;
                }
                op::ADDITEMS => {
                    let values = self.pop_mark()?;
                    let target = self.top()?;
                    match &mut self.objs[target] {
                        Obj::Set(items) => items.extend(values),
                        _ => return Err(self.invalid("ADDITEMS on an object that is not a set")),
                    }
                }

                op::BINPUT => {
                    let key = self.u8("BINPUT")?;
                    self.memo_put(u64::from(key))?;
                }
                op::LONG_BINPUT => {
                    let key = self.u32("LONG_BINPUT")?;
                    self.memo_put(u64::from(key))?;
                }
                op::PUT => {
                    let text = self.line_str("PUT")?;
                    let key: u64 = text
                        .parse()
                        .map_err(|_| self.invalid(format!("bad PUT key {text:?}")))?;
                    self.memo_put(key)?;
                }
                op::MEMOIZE => {
                    let key = self.memo.len() as u64;
                    self.memo_put(key)?;
                }
                op::BINGET => {
                    let key = self.u8("BINGET")?;
                    self.memo_get(u64::from(key))?;
                }
                op::LONG_BINGET => {
                    let key = self.u32("LONG_BINGET")?;
                    self.memo_get(u64::from(key))?;
                }
                op::GET => {
                    let text = self.line_str("GET")?;
                    let key: u64 = text
                        .parse()
                        .map_err(|_| self.invalid(format!("bad GET key {text:?}")))?;
                    self.memo_get(key)?;
                }

                op::GLOBAL => {
                    let module = self.line_str("GLOBAL module")?;
                    let name = self.line_str("GLOBAL name")?;
                    self.push(Obj::Global { module, name })?;
                }
                op::STACK_GLOBAL => {
                    let name = self.pop()?;
                    let module = self.pop()?;
                    let (Obj::Str(module), Obj::Str(name)) = (&self.objs[module], &self.objs[name])
                    else {
                        return Err(self.invalid("STACK_GLOBAL operands are not strings"));
                    };
                    let obj = Obj::Global {
                        module: module.clone(),
                        name: name.clone(),
                    };
                    self.push(obj)?;
                }
                op::REDUCE => {
                    let args = self.pop()?;
                    let callable = self.pop()?;
                    let obj = self.call(callable, args)?;
                    self.push(obj)?;
                }
                op::NEWOBJ => {
                    let args = self.pop()?;
                    let cls = self.pop()?;
                    let obj = self.call(cls, args)?;
                    self.push(obj)?;
                }
                op::NEWOBJ_EX => {
                    let _kwargs = self.pop()?;
                    let args = self.pop()?;
                    let cls = self.pop()?;
                    let obj = self.call(cls, args)?;
                    self.push(obj)?;
                }
                op::BUILD => {
                    let state = self.pop()?;
                    let target = self.top()?;
                    // Attribute state (e.g. a state dict's `_metadata`) is kept on
                    // generic objects and ignored elsewhere, as it never holds items.
                    if let Obj::Call { state: slot, .. } = &mut self.objs[target] {
                        *slot = Some(state);
                    }
                }
                op::BINPERSID => {
                    let pid = self.pop()?;
                    self.push(Obj::PersistentId(pid))?;
                }
                op::PERSID => {
                    let text = self.line_str("PERSID")?;
                    let pid = self.alloc(Obj::Str(text))?;
                    self.push(Obj::PersistentId(pid))?;
                }

                op::STRING => return Err(self.err(PickleErrorKind::UnsupportedOpcode("STRING"))),
                op::UNICODE => return Err(self.err(PickleErrorKind::UnsupportedOpcode("UNICODE"))),
                op::INST => return Err(self.err(PickleErrorKind::UnsupportedOpcode("INST"))),
                op::OBJ => return Err(self.err(PickleErrorKind::UnsupportedOpcode("OBJ"))),
                op::EXT1 | op::EXT2 | op::EXT4 => {
                    return Err(self.err(PickleErrorKind::UnsupportedOpcode("EXT")))
                }
                op::NEXT_BUFFER | op::READONLY_BUFFER => {
                    return Err(self.err(PickleErrorKind::UnsupportedOpcode(
                        "out-of-band buffer (protocol 5)",
                    )))
                }
                other => return Err(self.err(PickleErrorKind::UnknownOpcode(other))),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(bytes: &[u8]) -> Pickle {
        match parse(bytes, 0) {
            Ok(p) => p,
            Err(e) => panic!("pickle failed: {e}"),
        }
    }

    fn run_err(bytes: &[u8]) -> PickleError {
        match parse(bytes, 0) {
            Ok(p) => panic!("expected an error, got {:?}", p.obj(p.root())),
            Err(e) => e,
        }
    }

    #[test]
    fn scalars_protocol_2() {
        // (None, True, False, 7, 300, -5, 1.5)
        let mut b = vec![
            0x80, 2, b'(', b'N', 0x88, 0x89, b'K', 7, b'M', 0x2c, 0x01, b'J',
        ];
        b.extend((-5i32).to_le_bytes());
        b.push(b'G');
        b.extend(1.5f64.to_be_bytes());
        b.extend([b't', b'.']);
        let p = run(&b);
        let items = p.as_seq(p.root()).unwrap_or_default().to_vec();
        let vals: Vec<&Obj> = items.iter().map(|&i| p.obj(i)).collect();
        assert_eq!(
            vals,
            vec![
                &Obj::None,
                &Obj::Bool(true),
                &Obj::Bool(false),
                &Obj::Int(7),
                &Obj::Int(300),
                &Obj::Int(-5),
                &Obj::Float(1.5)
            ]
        );
        assert_eq!(p.end(), b.len());
    }

    #[test]
    fn torch_magic_number_as_long1() {
        // pickle.dumps(0x1950a86a20f9469cfc6c, protocol=2)
        let b = [
            0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19,
            b'.',
        ];
        let p = run(&b);
        assert!(matches!(p.obj(p.root()), Obj::BigInt(_)));
        assert_eq!(p.as_i128(p.root()), Some(0x1950a86a20f9469cfc6c));
    }

    #[test]
    fn long1_small_and_negative() {
        // LONG1 of 2**40 and of -1.
        let b = [
            0x80, 2, 0x8a, 6, 0, 0, 0, 0, 0, 1, 0x8a, 1, 0xff, 0x86, b'.',
        ];
        let p = run(&b);
        let items = p.as_seq(p.root()).unwrap_or_default().to_vec();
        assert_eq!(p.as_int(items[0]), Some(1 << 40));
        assert_eq!(p.as_int(items[1]), Some(-1));
        // Zero-length LONG1 is 0.
        let p = run(&[0x8a, 0, b'.']);
        assert_eq!(p.as_int(p.root()), Some(0));
    }

    #[test]
    fn protocol_4_frame_memoize_stack_global() {
        // A dict {'k': collections.OrderedDict()} in protocol 4 style.
        let mut body = vec![b'}', 0x94, 0x8c, 1, b'k', 0x94];
        body.extend([0x8c, 11]);
        body.extend(b"collections");
        body.push(0x94);
        body.extend([0x8c, 11]);
        body.extend(b"OrderedDict");
        body.extend([0x94, 0x93, 0x94, b')', b'R', 0x94, b's', b'.']);
        let mut b = vec![0x80, 4, 0x95];
        b.extend((body.len() as u64).to_le_bytes());
        b.extend(&body);
        let p = run(&b);
        let v = p.dict_get(p.root(), "k").unwrap_or(usize::MAX);
        assert!(matches!(p.obj(v), Obj::Dict(items) if items.is_empty()));
    }

    #[test]
    fn memo_shares_objects_and_setitems_after_build() {
        // d = OrderedDict(); l = [] ; (d, d) with d['a'] = 1 and a BUILD with _metadata.
        let mut b = vec![0x80, 2, b'c'];
        b.extend(b"collections\nOrderedDict\n");
        b.extend([b')', b'R', b'q', 0, b'(', 0x8c, 1, b'a', b'K', 1, b'u']);
        // BUILD with a state dict: must be ignored on dicts.
        b.extend([b'}', b'b', b'h', 0, 0x86, b'.']);
        let p = run(&b);
        let pair = p.as_seq(p.root()).unwrap_or_default().to_vec();
        assert_eq!(pair[0], pair[1]);
        let a = p.dict_get(pair[0], "a").unwrap_or(usize::MAX);
        assert_eq!(p.as_int(a), Some(1));
    }

    #[test]
    fn reduce_keeps_calls_and_persistent_ids() {
        // torch._utils._rebuild_tensor_v2(persistent(('storage', 'k')), 0)
        let mut b = vec![0x80, 2, b'c'];
        b.extend(b"torch._utils\n_rebuild_tensor_v2\n");
        b.extend([b'X', 7, 0, 0, 0]);
        b.extend(b"storage");
        b.extend([0x8c, 1, b'k', 0x86, b'Q', b'K', 0, 0x86, b'R', b'.']);
        let p = run(&b);
        let Obj::Call { callable, args, .. } = p.obj(p.root()) else {
            panic!("not a call: {:?}", p.obj(p.root()));
        };
        assert_eq!(
            p.as_global(*callable),
            Some(("torch._utils", "_rebuild_tensor_v2"))
        );
        let args = p.as_seq(*args).unwrap_or_default().to_vec();
        let Obj::PersistentId(pid) = p.obj(args[0]) else {
            panic!("not a persistent id");
        };
        let pid = p.as_seq(*pid).unwrap_or_default().to_vec();
        assert_eq!(p.as_str(pid[0]), Some("storage"));
        assert_eq!(p.as_str(pid[1]), Some("k"));
    }

    #[test]
    fn lists_sets_and_bytes() {
        let b = [
            b'(', b']', b'(', b'K', 1, b'K', 2, b'e', b'K', 3, b'a', 0x8f, b'(', b'K', 9, 0x90,
            b'C', 2, 0xde, 0xad, b't', b'.',
        ];
        let p = run(&b);
        let items = p.as_seq(p.root()).unwrap_or_default().to_vec();
        let list: Vec<i64> = p
            .as_seq(items[0])
            .unwrap_or_default()
            .iter()
            .filter_map(|&i| p.as_int(i))
            .collect();
        assert_eq!(list, vec![1, 2, 3]);
        assert!(matches!(p.obj(items[1]), Obj::Set(s) if s.len() == 1));
        assert_eq!(p.obj(items[2]), &Obj::Bytes(vec![0xde, 0xad]));
    }

    #[test]
    fn short_binstring_is_latin1() {
        let p = run(&[b'U', 2, 0xe9, b'x', b'.']);
        assert_eq!(p.as_str(p.root()), Some("\u{e9}x"));
    }

    #[test]
    fn text_opcodes() {
        let p = run(b"(I42\nI01\nL-7L\nF0.25\nc__builtin__\ndict\np0\ng0\nt.");
        let items = p.as_seq(p.root()).unwrap_or_default().to_vec();
        assert_eq!(p.as_int(items[0]), Some(42));
        assert_eq!(p.obj(items[1]), &Obj::Bool(true));
        assert_eq!(p.as_int(items[2]), Some(-7));
        assert_eq!(p.obj(items[3]), &Obj::Float(0.25));
        assert_eq!(items[4], items[5]);
    }

    #[test]
    fn unknown_opcode_names_byte_and_offset() {
        let e = run_err(&[0x80, 2, b'N', 0xff]);
        assert_eq!(e.offset, 3);
        assert_eq!(e.kind, PickleErrorKind::UnknownOpcode(0xff));
        let msg = e.to_string();
        assert!(msg.contains("0xff") && msg.contains("offset 3"), "{msg}");
    }

    #[test]
    fn unsupported_opcode_is_named() {
        let e = run_err(&[0x80, 2, 0x82, 1]);
        assert_eq!(e.kind, PickleErrorKind::UnsupportedOpcode("EXT"));
    }

    #[test]
    fn huge_lengths_are_refused_before_allocating() {
        // BINUNICODE8 claiming 2^62 bytes, BINBYTES8 claiming u64::MAX, BINUNICODE 4 GiB.
        let mut b = vec![0x8d];
        b.extend((1u64 << 62).to_le_bytes());
        assert!(matches!(run_err(&b).kind, PickleErrorKind::Truncated(_)));
        let mut b = vec![0x8e];
        b.extend(u64::MAX.to_le_bytes());
        assert!(matches!(
            run_err(&b).kind,
            PickleErrorKind::Truncated(_) | PickleErrorKind::Limit(_)
        ));
        let mut b = vec![b'X'];
        b.extend(u32::MAX.to_le_bytes());
        b.extend(b"abc");
        assert!(matches!(run_err(&b).kind, PickleErrorKind::Truncated(_)));
        // LONG4 beyond the integer size limit, FRAME beyond the data.
        let mut b = vec![0x8b];
        b.extend(i32::MAX.to_le_bytes());
        assert!(matches!(run_err(&b).kind, PickleErrorKind::Limit(_)));
        let mut b = vec![0x95];
        b.extend(1000u64.to_le_bytes());
        b.push(b'N');
        assert!(matches!(run_err(&b).kind, PickleErrorKind::Truncated(_)));
    }

    #[test]
    fn structural_errors() {
        // Underflow, missing MARK, bad memo key, odd SETITEMS, SETITEM on a list.
        assert!(matches!(run_err(b".").kind, PickleErrorKind::Invalid(_)));
        assert!(matches!(run_err(b"t.").kind, PickleErrorKind::Invalid(_)));
        assert!(matches!(
            run_err(b"h\x05.").kind,
            PickleErrorKind::Invalid(_)
        ));
        assert!(matches!(
            run_err(b"}(K\x01u.").kind,
            PickleErrorKind::Invalid(_)
        ));
        assert!(matches!(
            run_err(b"]K\x01K\x02s.").kind,
            PickleErrorKind::Invalid(_)
        ));
        // Items below a MARK cannot be popped by TUPLE1.
        assert!(matches!(
            run_err(b"N(\x85.").kind,
            PickleErrorKind::Invalid(_)
        ));
        // Unterminated GLOBAL line and overlong one.
        assert!(matches!(
            run_err(b"ctorch").kind,
            PickleErrorKind::Truncated(_)
        ));
        let mut long = vec![b'c'];
        long.extend(std::iter::repeat_n(b'a', 5000));
        long.push(b'\n');
        assert!(matches!(run_err(&long).kind, PickleErrorKind::Limit(_)));
    }

    #[test]
    fn every_truncation_is_an_error() {
        let mut b = vec![0x80, 2, b'}', b'q', 0, b'(', b'X', 1, 0, 0, 0, b'a', b'G'];
        b.extend(2.0f64.to_be_bytes());
        b.extend([
            0x8c, 1, b'b', 0x8a, 9, 1, 2, 3, 4, 5, 6, 7, 8, 9, b'u', b'.',
        ]);
        assert!(parse(&b, 0).is_ok());
        for n in 0..b.len() {
            assert!(parse(&b[..n], 0).is_err(), "prefix {n} parsed");
        }
    }

    #[test]
    fn limits_bound_stack_and_objects() {
        let limits = Limits {
            max_stack: 4,
            ..Limits::default()
        };
        let e = parse_with_limits(b"NNNNNt.", 0, limits).err();
        assert!(matches!(e.map(|e| e.kind), Some(PickleErrorKind::Limit(_))));
        let limits = Limits {
            max_marks: 2,
            ..Limits::default()
        };
        let e = parse_with_limits(b"(((", 0, limits).err();
        assert!(matches!(e.map(|e| e.kind), Some(PickleErrorKind::Limit(_))));
    }

    #[test]
    fn deep_nesting_does_not_recurse() {
        // 200k nested 1-tuples: building and dropping must not overflow the stack.
        let mut b = vec![b')'];
        b.extend(std::iter::repeat_n(0x85u8, 200_000));
        b.push(b'.');
        let p = run(&b);
        assert!(matches!(p.obj(p.root()), Obj::Tuple(v) if v.len() == 1));
    }

    #[test]
    fn consecutive_pickles() {
        let b = [
            0x80, 2, b'K', 1, b'.', 0x80, 2, b'M', 0xe9, 0x03, b'.', 0xAA,
        ];
        let first = run(&b);
        assert_eq!(first.as_int(first.root()), Some(1));
        let second = parse(&b, first.end()).ok();
        let second = second.as_ref();
        assert_eq!(second.and_then(|p| p.as_int(p.root())), Some(1001));
        assert_eq!(second.map(|p| p.end()), Some(11));
    }
}
