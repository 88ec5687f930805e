//! ACL rules: a policy's `Rules` text, parsed and validated as Consul 1.21 does it.
//!
//! Consul decodes rules with HCL version 1 (`hashicorp/hcl` v1, `DecodeErrorOnDuplicates`)
//! into `acl.PolicyRules`, then validates them (`acl/policy.go`, `PolicyRules.Validate`).
//! HCL2 parsers (hcl-rs included) reject forms Consul's own tests and docs use, such as
//! `service "web" { policy = "write" intentions = "read" }` on one line or a trailing comma,
//! so this module carries a small HCL1 reader instead: its lexer and parser follow
//! `hcl/scanner` and `hcl/parser`, and the decoding step follows `hcl/decoder.go` as far as
//! `PolicyRules` exercises it. JSON text (first non-space character `{`, HCL1's own test)
//! goes through serde_json into the same tree, keeping repeated keys as HCL1 does.
//!
//! Errors carry Consul's texts: `Failed to parse ACL rules: ...` for text HCL1 cannot read
//! (the prefix is the parser's own, `acl/policy_ce.go` `decodeRules`), and
//! `Invalid <kind> policy: <Go %#v of the rule>` for bad levels.

use std::fmt::{self, Write as _};

use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};

/// An ACL rule resource as Consul's rules language names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Resource {
    Acl,
    Agent,
    Event,
    Key,
    Keyring,
    Mesh,
    Node,
    Operator,
    Peering,
    Query,
    Service,
    Session,
}

impl Resource {
    /// Every resource, in declaration order.
    pub const ALL: [Resource; 12] = [
        Resource::Acl,
        Resource::Agent,
        Resource::Event,
        Resource::Key,
        Resource::Keyring,
        Resource::Mesh,
        Resource::Node,
        Resource::Operator,
        Resource::Peering,
        Resource::Query,
        Resource::Service,
        Resource::Session,
    ];

    /// The rules language's name: `"acl"`, `"agent"`, `"key"`, ... (a named resource's
    /// prefix form adds `_prefix`).
    pub fn name(self) -> &'static str {
        match self {
            Resource::Acl => "acl",
            Resource::Agent => "agent",
            Resource::Event => "event",
            Resource::Key => "key",
            Resource::Keyring => "keyring",
            Resource::Mesh => "mesh",
            Resource::Node => "node",
            Resource::Operator => "operator",
            Resource::Peering => "peering",
            Resource::Query => "query",
            Resource::Service => "service",
            Resource::Session => "session",
        }
    }

    /// Whether the resource is a single level (`operator = "read"`) rather than named
    /// blocks (`key_prefix "" { ... }`).
    pub fn is_scalar(self) -> bool {
        matches!(
            self,
            Resource::Acl
                | Resource::Keyring
                | Resource::Mesh
                | Resource::Operator
                | Resource::Peering
        )
    }
}

/// A rule's level. Ordering for merging is NOT the derive order: see the authorizer
/// (deny > write > list > read).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Level {
    Deny,
    Read,
    List,
    Write,
}

impl Level {
    /// The rules language's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Deny => "deny",
            Level::Read => "read",
            Level::List => "list",
            Level::Write => "write",
        }
    }

    /// Consul's `AccessLevelFromString`: case-insensitive (`"READ"` is read).
    pub fn parse(text: &str) -> Option<Level> {
        [Level::Deny, Level::Read, Level::List, Level::Write]
            .into_iter()
            .find(|l| l.as_str().eq_ignore_ascii_case(text))
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One named rule: `key_prefix "foo/" { policy = "write" }` is
/// `{ resource: Key, name: "foo/", prefix: true, policy: Write, intentions: None }`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct NamedRule {
    pub resource: Resource,
    pub name: String,
    /// `<resource>_prefix` (a prefix match) rather than `<resource>` (an exact match).
    pub prefix: bool,
    pub policy: Level,
    /// `service`/`service_prefix` only: the intentions level, when the rule sets one.
    pub intentions: Option<Level>,
}

/// A policy's parsed rules. `named` keeps every block (several blocks for the same name are
/// all kept, as Consul does; the authorizer merges them), grouped in Consul's field order
/// (agent, agent_prefix, key, key_prefix, node, node_prefix, service, service_prefix,
/// session, session_prefix, event, event_prefix, query, query_prefix) and in text order
/// within a group. `scalars` holds the set scalars in the order acl, keyring, operator,
/// mesh, peering; an empty level (`operator = ""`) is "not set" and left out.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rules {
    pub named: Vec<NamedRule>,
    pub scalars: Vec<(Resource, Level)>,
}

impl Rules {
    /// No rule at all.
    pub fn is_empty(&self) -> bool {
        self.named.is_empty() && self.scalars.is_empty()
    }
}

/// Parses a policy's `Rules` text, HCL (HCL1 as Consul reads it:
/// `key_prefix "" { policy = "read" }`, `operator = "read"`) or JSON
/// (`{"key_prefix": {"": {"policy": "read"}}, "operator": "read"}`). Empty or whitespace
/// text is no rules.
///
/// As in Consul: unknown keys are ignored (Consul issue #11352), key and field names match
/// case-insensitively, levels are case-insensitive, an attribute set twice in one HCL body
/// is an error, and the first invalid level in Consul's field order is the one reported.
///
/// Errors are Consul's texts: `Failed to parse ACL rules: <HCL1 error>` (syntax errors
/// mirror HCL1's wording and positions where this reader can; JSON syntax errors carry
/// serde_json's wording), or e.g.
/// `Invalid key policy: &acl.KeyRule{Prefix:"foo", Policy:"bogus", EnterpriseRule:acl.EnterpriseRule{}}`
/// and `Invalid operator policy: "bogus"`.
pub fn parse_rules(text: &str) -> Result<Rules, String> {
    if text.is_empty() {
        return Ok(Rules::default());
    }
    let items = read_tree(text).map_err(|e| format!("Failed to parse ACL rules: {e}"))?;
    let raw = decode(&items).map_err(|e| format!("Failed to parse ACL rules: {e}"))?;
    validate(raw)
}

// ---------------------------------------------------------------------------------------
// The HCL1 tree shared by the HCL and JSON readers (hcl/ast, reduced).

/// A source position, shown as HCL1 shows it: `line:column` (1-based, columns in
/// characters), or `-` where there is none (JSON input).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Pos {
    offset: usize,
    line: usize,
    column: usize,
}

impl fmt::Display for Pos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line > 0 {
            write!(f, "{}:{}", self.line, self.column)
        } else {
            f.write_str("-")
        }
    }
}

/// HCL1's `PosError` text.
fn pos_error(pos: Pos, msg: impl fmt::Display) -> String {
    format!("At {pos}: {msg}")
}

#[derive(Debug)]
struct Key {
    /// The key's value (a quoted key unquoted).
    value: String,
    /// The key as written (quotes included): HCL1's duplicate error quotes this.
    raw: String,
    pos: Pos,
}

#[derive(Debug)]
struct Item {
    keys: Vec<Key>,
    /// `key = value` rather than `key { ... }`: only these count as duplicate arguments.
    assign: bool,
    val: Node,
}

#[derive(Debug)]
struct Node {
    pos: Pos,
    kind: NodeKind,
}

#[derive(Debug)]
enum NodeKind {
    /// A literal: the value (unquoted for strings, as written for numbers).
    Literal(Lit, String),
    Object(Vec<Item>),
    List(Vec<Node>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Lit {
    Number,
    Float,
    Bool,
    Str,
    Heredoc,
    Null,
}

/// Reads `text` into its top-level items, choosing HCL or JSON as HCL1's `lexMode` does.
fn read_tree(text: &str) -> Result<Vec<Item>, String> {
    if text.trim_start().starts_with('{') {
        read_json(text)
    } else {
        // HCL1 normalises line endings before scanning.
        let src = text.replace("\r\n", "\n");
        Parser::new(&src).parse()
    }
}

// ---------------------------------------------------------------------------------------
// HCL1 lexer (hcl/scanner).

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Eof,
    Ident,
    Number,
    Float,
    Bool,
    Str,
    Heredoc,
    LBrack,
    LBrace,
    Comma,
    Period,
    RBrack,
    RBrace,
    Assign,
    Add,
    Sub,
}

impl Kind {
    /// `token.Type.String()`.
    fn name(self) -> &'static str {
        match self {
            Kind::Eof => "EOF",
            Kind::Ident => "IDENT",
            Kind::Number => "NUMBER",
            Kind::Float => "FLOAT",
            Kind::Bool => "BOOL",
            Kind::Str => "STRING",
            Kind::Heredoc => "HEREDOC",
            Kind::LBrack => "LBRACK",
            Kind::LBrace => "LBRACE",
            Kind::Comma => "COMMA",
            Kind::Period => "PERIOD",
            Kind::RBrack => "RBRACK",
            Kind::RBrace => "RBRACE",
            Kind::Assign => "ASSIGN",
            Kind::Add => "ADD",
            Kind::Sub => "SUB",
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Token<'a> {
    kind: Kind,
    pos: Pos,
    text: &'a str,
}

struct Lexer<'a> {
    src: &'a str,
    /// Position of the next character.
    at: Pos,
    /// Position of the last character read, for errors (HCL1 reports scanner errors there).
    last: Pos,
}

fn is_letter(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_' || (!c.is_ascii() && c.is_alphabetic())
}

fn is_digit(c: char) -> bool {
    c.is_ascii_digit() || (!c.is_ascii() && c.is_numeric())
}

impl<'a> Lexer<'a> {
    fn new(src: &'a str) -> Self {
        let start = Pos {
            offset: 0,
            line: 1,
            column: 1,
        };
        Lexer {
            src,
            at: start,
            last: start,
        }
    }

    fn peek(&self) -> Option<char> {
        self.src[self.at.offset..].chars().next()
    }

    fn bump(&mut self) -> Option<char> {
        let Some(c) = self.peek() else {
            // HCL1 advances past the end for error reporting.
            self.last = self.at;
            return None;
        };
        self.last = self.at;
        self.at.offset += c.len_utf8();
        if c == '\n' {
            self.at.line += 1;
            self.at.column = 1;
        } else {
            self.at.column += 1;
        }
        Some(c)
    }

    fn err(&self, msg: &str) -> String {
        pos_error(self.last, msg)
    }

    fn next_token(&mut self) -> Result<Token<'a>, String> {
        loop {
            while matches!(self.peek(), Some(' ' | '\t' | '\n' | '\r')) {
                self.bump();
            }
            let start = self.at;
            let Some(c) = self.bump() else {
                return Ok(Token {
                    kind: Kind::Eof,
                    pos: start,
                    text: "",
                });
            };
            let kind = match c {
                // Comments are skipped; the parser never sees them.
                '#' => {
                    self.skip_line();
                    continue;
                }
                '/' => {
                    match self.bump() {
                        Some('/') => self.skip_line(),
                        Some('*') => self.skip_block_comment()?,
                        _ => return Err(self.err("expected '/' for comment")),
                    }
                    continue;
                }
                c if is_letter(c) => {
                    while self
                        .peek()
                        .is_some_and(|c| is_letter(c) || is_digit(c) || c == '-' || c == '.')
                    {
                        self.bump();
                    }
                    match &self.src[start.offset..self.at.offset] {
                        "true" | "false" => Kind::Bool,
                        _ => Kind::Ident,
                    }
                }
                c if c.is_ascii_digit() => self.number(c)?,
                '"' => {
                    self.string()?;
                    Kind::Str
                }
                '.' => {
                    if self.peek().is_some_and(|c| c.is_ascii_digit()) {
                        self.digits();
                        self.exponent()?;
                        Kind::Float
                    } else {
                        Kind::Period
                    }
                }
                '<' => {
                    self.heredoc()?;
                    Kind::Heredoc
                }
                '[' => Kind::LBrack,
                ']' => Kind::RBrack,
                '{' => Kind::LBrace,
                '}' => Kind::RBrace,
                ',' => Kind::Comma,
                '=' => Kind::Assign,
                '+' => Kind::Add,
                '-' => match self.peek() {
                    Some(d) if d.is_ascii_digit() => {
                        self.bump();
                        self.number(d)?
                    }
                    _ => Kind::Sub,
                },
                _ => return Err(self.err("illegal char")),
            };
            return Ok(Token {
                kind,
                pos: start,
                text: &self.src[start.offset..self.at.offset],
            });
        }
    }

    fn skip_line(&mut self) {
        while self.peek().is_some_and(|c| c != '\n') {
            self.bump();
        }
    }

    fn skip_block_comment(&mut self) -> Result<(), String> {
        loop {
            match self.bump() {
                None => return Err(self.err("comment not terminated")),
                Some('*') if self.peek() == Some('/') => {
                    self.bump();
                    return Ok(());
                }
                Some(_) => {}
            }
        }
    }

    fn digits(&mut self) {
        while self.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.bump();
        }
    }

    /// An optional exponent; true if there was one.
    fn exponent(&mut self) -> Result<bool, String> {
        if !matches!(self.peek(), Some('e' | 'E')) {
            return Ok(false);
        }
        self.bump();
        if matches!(self.peek(), Some('+' | '-')) {
            self.bump();
        }
        if !self.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.bump();
            return Err(self.err("illegal floating-point exponent"));
        }
        self.digits();
        Ok(true)
    }

    /// The rest of a number whose first digit was `first` (hcl/scanner `scanNumber`).
    fn number(&mut self, first: char) -> Result<Kind, String> {
        if first == '0' && matches!(self.peek(), Some('x' | 'X')) {
            self.bump();
            let mut found = false;
            while self.peek().is_some_and(|c| c.is_ascii_hexdigit()) {
                self.bump();
                found = true;
            }
            if !found {
                return Err(self.err("illegal hexadecimal number"));
            }
            return Ok(Kind::Number);
        }
        self.digits();
        let mut float = false;
        if self.peek() == Some('.') {
            self.bump();
            self.digits();
            float = true;
        }
        if self.exponent()? {
            float = true;
        }
        Ok(if float { Kind::Float } else { Kind::Number })
    }

    /// A string after its opening quote (hcl/scanner `scanString`): `${ }` may hold quotes.
    fn string(&mut self) -> Result<(), String> {
        let mut braces = 0usize;
        loop {
            let Some(c) = self.bump() else {
                return Err(self.err("literal not terminated"));
            };
            if c == '\n' && braces == 0 {
                return Err(self.err("literal not terminated"));
            }
            if c == '"' && braces == 0 {
                return Ok(());
            }
            if braces == 0 && c == '$' && self.peek() == Some('{') {
                braces += 1;
                self.bump();
            } else if braces > 0 && c == '{' {
                braces += 1;
            }
            if braces > 0 && c == '}' {
                braces -= 1;
            }
            if c == '\\' {
                self.escape()?;
            }
        }
    }

    fn escape(&mut self) -> Result<(), String> {
        let (base, count) = match self.bump() {
            Some('a' | 'b' | 'f' | 'n' | 'r' | 't' | 'v' | '\\' | '"') => return Ok(()),
            // The first octal digit is already read.
            Some('0'..='7') => (8, 2),
            Some('x') => (16, 2),
            Some('u') => (16, 4),
            Some('U') => (16, 8),
            _ => return Err(self.err("illegal char escape")),
        };
        for _ in 0..count {
            match self.bump() {
                Some(c) if c.is_digit(base) => {}
                _ => return Err(self.err("illegal char escape")),
            }
        }
        Ok(())
    }

    /// A heredoc after its first `<`: `<<ID` or `<<-ID`, a newline, lines, then a line
    /// holding only `ID` (leading blanks allowed for `<<-`).
    fn heredoc(&mut self) -> Result<(), String> {
        if self.bump() != Some('<') {
            return Err(self.err("heredoc expected second '<', didn't see it"));
        }
        let indented = self.peek() == Some('-');
        if indented {
            self.bump();
        }
        let anchor_start = self.at.offset;
        if !self.peek().is_some_and(is_letter) {
            self.bump();
            return Err(self.err("heredoc anchor expected"));
        }
        while self.peek().is_some_and(|c| is_letter(c) || is_digit(c)) {
            self.bump();
        }
        let anchor = &self.src[anchor_start..self.at.offset];
        if self.bump() != Some('\n') {
            return Err(self.err("invalid characters in heredoc anchor"));
        }
        loop {
            let line_start = self.at.offset;
            self.skip_line();
            let line = &self.src[line_start..self.at.offset];
            let line = if indented { line.trim_start() } else { line };
            if line == anchor {
                return Ok(());
            }
            if self.bump().is_none() {
                return Err(self.err("heredoc not terminated"));
            }
        }
    }
}

/// A HCL1 string token's value (hcl/strconv `Unquote`): quotes removed, escapes resolved,
/// `${...}` copied as written.
fn unquote(text: &str) -> String {
    let inner = &text[1..text.len() - 1];
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '$' && chars.peek() == Some(&'{') {
            out.push('$');
            let mut braces = 0usize;
            for c in chars.by_ref() {
                out.push(c);
                match c {
                    '{' => braces += 1,
                    '}' => braces -= 1,
                    _ => {}
                }
                if braces == 0 {
                    break;
                }
            }
            continue;
        }
        if c != '\\' {
            out.push(c);
            continue;
        }
        let Some(e) = chars.next() else { break };
        let simple = match e {
            'a' => Some('\x07'),
            'b' => Some('\x08'),
            'f' => Some('\x0c'),
            'n' => Some('\n'),
            'r' => Some('\r'),
            't' => Some('\t'),
            'v' => Some('\x0b'),
            '\\' => Some('\\'),
            '"' => Some('"'),
            _ => None,
        };
        if let Some(s) = simple {
            out.push(s);
            continue;
        }
        // Numeric escapes were checked by the lexer.
        let (base, count, mut value) = match e {
            '0'..='7' => (8, 2, e.to_digit(8).unwrap_or(0)),
            'x' => (16, 2, 0),
            'u' => (16, 4, 0),
            _ => (16, 8, 0),
        };
        for _ in 0..count {
            if let Some(d) = chars.next().and_then(|d| d.to_digit(base)) {
                value = value * base + d;
            }
        }
        out.push(char::from_u32(value).unwrap_or(char::REPLACEMENT_CHARACTER));
    }
    out
}

/// A heredoc token's value: the lines between the anchors, common indentation removed for
/// `<<-`.
fn heredoc_value(text: &str) -> String {
    let indented = text.starts_with("<<-");
    let Some((_, rest)) = text.split_once('\n') else {
        return String::new();
    };
    let body = match rest.rfind('\n') {
        Some(i) => &rest[..=i],
        None => "",
    };
    if !indented {
        return body.to_string();
    }
    let indent = body
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.len() - l.trim_start().len())
        .min()
        .unwrap_or(0);
    body.lines()
        .map(|l| format!("{}\n", l.get(indent..).unwrap_or("")))
        .collect()
}

// ---------------------------------------------------------------------------------------
// HCL1 parser (hcl/parser), with `errorOnDuplicateKeys` on as Consul's `decodeRules` has it.

struct Parser<'a> {
    lexer: Lexer<'a>,
    /// The current token (HCL1's `p.tok`).
    tok: Token<'a>,
    /// One token pushed back (HCL1's `unscan`).
    pushed: bool,
}

/// HCL1's `errEofToken`: the input ended where an item could start.
enum Parse<T> {
    Ok(T),
    Eof,
}

impl<'a> Parser<'a> {
    fn new(src: &'a str) -> Self {
        let tok = Token {
            kind: Kind::Eof,
            pos: Pos::default(),
            text: "",
        };
        Parser {
            lexer: Lexer::new(src),
            tok,
            pushed: false,
        }
    }

    fn scan(&mut self) -> Result<Token<'a>, String> {
        if self.pushed {
            self.pushed = false;
        } else {
            self.tok = self.lexer.next_token()?;
        }
        Ok(self.tok)
    }

    fn unscan(&mut self) {
        self.pushed = true;
    }

    fn parse(mut self) -> Result<Vec<Item>, String> {
        self.object_list(false)
    }

    fn object_list(&mut self, in_object: bool) -> Result<Vec<Item>, String> {
        let mut items: Vec<Item> = Vec::new();
        loop {
            if in_object {
                let tok = self.scan()?;
                self.unscan();
                if tok.kind == Kind::RBrace {
                    break;
                }
            }
            let item = match self.object_item()? {
                Parse::Ok(item) => item,
                Parse::Eof => break,
            };
            if item.assign {
                for key in &item.keys {
                    // Linear: a body holds a handful of attributes.
                    if items
                        .iter()
                        .any(|i| i.assign && i.keys.iter().any(|k| k.raw == key.raw))
                    {
                        return Err(format!(
                            "The argument {} at {} was already set. Each argument can only be defined once",
                            go_quote(&key.raw),
                            key.pos
                        ));
                    }
                }
            }
            items.push(item);
            // Items may be comma-separated.
            if self.scan()?.kind != Kind::Comma {
                self.unscan();
            }
        }
        Ok(items)
    }

    fn object_item(&mut self) -> Result<Parse<Item>, String> {
        let (keys, end) = self.object_key()?;
        let keys = match end {
            KeyEnd::Eof if keys.is_empty() => return Ok(Parse::Eof),
            // Keys then the end of input (or a closing brace) fall to the error below.
            KeyEnd::Eof | KeyEnd::Brace | KeyEnd::Assign => keys,
        };
        let (assign, val) = match self.tok.kind {
            Kind::Assign => match self.object()? {
                Parse::Ok(val) => (true, val),
                Parse::Eof => return Ok(Parse::Eof),
            },
            Kind::LBrace if end == KeyEnd::Brace => (false, self.object_type()?),
            _ => {
                let names: Vec<&str> = keys.iter().map(|k| k.raw.as_str()).collect();
                return Err(pos_error(
                    self.tok.pos,
                    format!(
                        "key '{}' expected start of object ('{{') or assignment ('=')",
                        names.join(" ")
                    ),
                ));
            }
        };
        Ok(Parse::Ok(Item { keys, assign, val }))
    }

    /// Keys up to `=` or `{` (hcl/parser `objectKey`).
    fn object_key(&mut self) -> Result<(Vec<Key>, KeyEnd), String> {
        let mut keys = Vec::new();
        loop {
            let tok = self.scan()?;
            match tok.kind {
                Kind::Eof => return Ok((keys, KeyEnd::Eof)),
                Kind::Assign => {
                    if keys.len() > 1 {
                        return Err(pos_error(
                            tok.pos,
                            "nested object expected: LBRACE got: ASSIGN",
                        ));
                    }
                    if keys.is_empty() {
                        return Err(pos_error(tok.pos, "no object keys found!"));
                    }
                    return Ok((keys, KeyEnd::Assign));
                }
                Kind::LBrace => {
                    if keys.is_empty() {
                        return Err(pos_error(tok.pos, "expected: IDENT | STRING got: LBRACE"));
                    }
                    return Ok((keys, KeyEnd::Brace));
                }
                Kind::Ident | Kind::Str => keys.push(Key {
                    value: if tok.kind == Kind::Str {
                        unquote(tok.text)
                    } else {
                        tok.text.to_string()
                    },
                    raw: tok.text.to_string(),
                    pos: tok.pos,
                }),
                // HCL1 turns "keys then `}`" into the "expected start of object" error.
                Kind::RBrace if !keys.is_empty() => return Ok((keys, KeyEnd::Eof)),
                other => {
                    return Err(pos_error(
                        tok.pos,
                        format!(
                            "expected: IDENT | STRING | ASSIGN | LBRACE got: {}",
                            other.name()
                        ),
                    ))
                }
            }
        }
    }

    /// A value after `=` (hcl/parser `object`).
    fn object(&mut self) -> Result<Parse<Node>, String> {
        let tok = self.scan()?;
        let lit = match tok.kind {
            Kind::Number => Lit::Number,
            Kind::Float => Lit::Float,
            Kind::Bool => Lit::Bool,
            Kind::Str => Lit::Str,
            Kind::Heredoc => Lit::Heredoc,
            Kind::LBrace => return Ok(Parse::Ok(self.object_type()?)),
            Kind::LBrack => return Ok(Parse::Ok(self.list_type()?)),
            Kind::Eof => return Ok(Parse::Eof),
            _ => {
                return Err(pos_error(
                    tok.pos,
                    format!("Unknown token: {}", go_token(&tok)),
                ))
            }
        };
        Ok(Parse::Ok(literal(lit, &tok)))
    }

    /// An object after its `{` (hcl/parser `objectType`).
    fn object_type(&mut self) -> Result<Node, String> {
        let pos = self.tok.pos;
        let items = self.object_list(true)?;
        let tok = self.scan()?;
        if tok.kind != Kind::RBrace {
            return Err(pos_error(
                tok.pos,
                format!("object expected closing RBRACE got: {}", tok.kind.name()),
            ));
        }
        Ok(Node {
            pos,
            kind: NodeKind::Object(items),
        })
    }

    /// A list after its `[` (hcl/parser `listType`).
    fn list_type(&mut self) -> Result<Node, String> {
        let pos = self.tok.pos;
        let mut list = Vec::new();
        let mut need_comma = false;
        loop {
            let tok = self.scan()?;
            if need_comma && !matches!(tok.kind, Kind::Comma | Kind::RBrack) {
                return Err(pos_error(
                    tok.pos,
                    format!(
                        "error parsing list, expected comma or list end, got: {}",
                        tok.kind.name()
                    ),
                ));
            }
            match tok.kind {
                Kind::Bool | Kind::Number | Kind::Float | Kind::Str | Kind::Heredoc => {
                    let lit = match tok.kind {
                        Kind::Bool => Lit::Bool,
                        Kind::Number => Lit::Number,
                        Kind::Float => Lit::Float,
                        Kind::Str => Lit::Str,
                        _ => Lit::Heredoc,
                    };
                    list.push(literal(lit, &tok));
                    need_comma = true;
                }
                Kind::Comma => need_comma = false,
                Kind::LBrace => {
                    let node = self.object_type().map_err(|e| {
                        pos_error(
                            tok.pos,
                            format!("error while trying to parse object within list: {e}"),
                        )
                    })?;
                    list.push(node);
                    need_comma = true;
                }
                Kind::LBrack => {
                    let node = self.list_type().map_err(|e| {
                        pos_error(
                            tok.pos,
                            format!("error while trying to parse list within list: {e}"),
                        )
                    })?;
                    list.push(node);
                }
                Kind::RBrack => {
                    return Ok(Node {
                        pos,
                        kind: NodeKind::List(list),
                    })
                }
                other => {
                    return Err(pos_error(
                        tok.pos,
                        format!("unexpected token while parsing list: {}", other.name()),
                    ))
                }
            }
        }
    }
}

/// How a run of keys ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum KeyEnd {
    Eof,
    Assign,
    Brace,
}

fn literal(lit: Lit, tok: &Token<'_>) -> Node {
    let value = match lit {
        Lit::Str => unquote(tok.text),
        Lit::Heredoc => heredoc_value(tok.text),
        _ => tok.text.to_string(),
    };
    Node {
        pos: tok.pos,
        kind: NodeKind::Literal(lit, value),
    }
}

/// Go's `%+v` of a `token.Token`, for HCL1's "Unknown token" error: the token's `String()`,
/// `<pos> <type> <text>`.
fn go_token(tok: &Token<'_>) -> String {
    format!("{} {} {}", tok.pos, tok.kind.name(), tok.text)
}

// ---------------------------------------------------------------------------------------
// JSON input: serde_json into the same tree. A visitor keeps repeated keys (HCL1's JSON
// parser keeps them; serde_json's `Value` would drop all but the last).

enum Json {
    Null,
    Bool(bool),
    Number(String, bool),
    Str(String),
    List(Vec<Json>),
    Object(Vec<(String, Json)>),
}

impl<'de> Deserialize<'de> for Json {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct JsonVisitor;
        impl<'de> Visitor<'de> for JsonVisitor {
            type Value = Json;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON value")
            }
            fn visit_unit<E>(self) -> Result<Json, E> {
                Ok(Json::Null)
            }
            fn visit_none<E>(self) -> Result<Json, E> {
                Ok(Json::Null)
            }
            fn visit_bool<E>(self, v: bool) -> Result<Json, E> {
                Ok(Json::Bool(v))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Json, E> {
                Ok(Json::Number(v.to_string(), false))
            }
            fn visit_u64<E>(self, v: u64) -> Result<Json, E> {
                Ok(Json::Number(v.to_string(), false))
            }
            fn visit_f64<E>(self, v: f64) -> Result<Json, E> {
                Ok(Json::Number(v.to_string(), true))
            }
            fn visit_str<E>(self, v: &str) -> Result<Json, E> {
                Ok(Json::Str(v.to_string()))
            }
            fn visit_string<E>(self, v: String) -> Result<Json, E> {
                Ok(Json::Str(v))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Json, A::Error> {
                let mut out = Vec::new();
                while let Some(v) = seq.next_element()? {
                    out.push(v);
                }
                Ok(Json::List(out))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Json, A::Error> {
                let mut out = Vec::new();
                while let Some((k, v)) = map.next_entry::<String, Json>()? {
                    out.push((k, v));
                }
                Ok(Json::Object(out))
            }
        }
        deserializer.deserialize_any(JsonVisitor)
    }
}

fn read_json(text: &str) -> Result<Vec<Item>, String> {
    match serde_json::from_str::<Json>(text).map_err(|e| e.to_string())? {
        Json::Object(entries) => Ok(json_items(entries)),
        // Unreachable: the text starts with `{`.
        _ => Err("JSON rules must be an object".to_string()),
    }
}

fn json_items(entries: Vec<(String, Json)>) -> Vec<Item> {
    entries
        .into_iter()
        .map(|(k, v)| Item {
            keys: vec![Key {
                raw: format!("{k:?}"),
                value: k,
                pos: Pos::default(),
            }],
            assign: true,
            val: json_node(v),
        })
        .collect()
}

fn json_node(v: Json) -> Node {
    let kind = match v {
        Json::Null => NodeKind::Literal(Lit::Null, String::new()),
        Json::Bool(b) => NodeKind::Literal(Lit::Bool, b.to_string()),
        Json::Number(n, float) => {
            NodeKind::Literal(if float { Lit::Float } else { Lit::Number }, n)
        }
        Json::Str(s) => NodeKind::Literal(Lit::Str, s),
        Json::List(l) => NodeKind::List(l.into_iter().map(json_node).collect()),
        Json::Object(o) => NodeKind::Object(json_items(o)),
    };
    Node {
        pos: Pos::default(),
        kind,
    }
}

// ---------------------------------------------------------------------------------------
// Decoding into Consul's `PolicyRules` shape (hcl/decoder.go as `PolicyRules` uses it).

/// One named field of `acl.PolicyRules`, in the struct's order.
struct Field {
    /// The HCL key, and the word in Consul's error texts.
    hcl: &'static str,
    resource: Resource,
    prefix: bool,
    /// The Go rule type and its `,key` field, for `%#v`.
    go_type: &'static str,
    key_field: &'static str,
    /// The rule type embeds `EnterpriseRule` (an empty struct in Consul CE).
    enterprise: bool,
}

const fn field(
    hcl: &'static str,
    resource: Resource,
    prefix: bool,
    go_type: &'static str,
    key_field: &'static str,
    enterprise: bool,
) -> Field {
    Field {
        hcl,
        resource,
        prefix,
        go_type,
        key_field,
        enterprise,
    }
}

const NAMED_FIELDS: [Field; 14] = [
    field("agent", Resource::Agent, false, "AgentRule", "Node", false),
    field(
        "agent_prefix",
        Resource::Agent,
        true,
        "AgentRule",
        "Node",
        false,
    ),
    field("key", Resource::Key, false, "KeyRule", "Prefix", true),
    field("key_prefix", Resource::Key, true, "KeyRule", "Prefix", true),
    field("node", Resource::Node, false, "NodeRule", "Name", true),
    field(
        "node_prefix",
        Resource::Node,
        true,
        "NodeRule",
        "Name",
        true,
    ),
    field(
        "service",
        Resource::Service,
        false,
        "ServiceRule",
        "Name",
        true,
    ),
    field(
        "service_prefix",
        Resource::Service,
        true,
        "ServiceRule",
        "Name",
        true,
    ),
    field(
        "session",
        Resource::Session,
        false,
        "SessionRule",
        "Node",
        false,
    ),
    field(
        "session_prefix",
        Resource::Session,
        true,
        "SessionRule",
        "Node",
        false,
    ),
    field("event", Resource::Event, false, "EventRule", "Event", false),
    field(
        "event_prefix",
        Resource::Event,
        true,
        "EventRule",
        "Event",
        false,
    ),
    field(
        "query",
        Resource::Query,
        false,
        "PreparedQueryRule",
        "Prefix",
        false,
    ),
    field(
        "query_prefix",
        Resource::Query,
        true,
        "PreparedQueryRule",
        "Prefix",
        false,
    ),
];

/// The scalars after the named fields, in `PolicyRules` order (`acl` comes first of all).
const TAIL_SCALARS: [Resource; 4] = [
    Resource::Keyring,
    Resource::Operator,
    Resource::Mesh,
    Resource::Peering,
];

/// A rule as decoded, levels still text (validation reports them as written).
#[derive(Debug, Default)]
struct RawRule {
    name: String,
    policy: String,
    intentions: String,
}

#[derive(Debug, Default)]
struct RawPolicy {
    acl: String,
    named: Vec<Vec<RawRule>>,
    tail: Vec<String>,
}

/// A body as the decoder sees it: items as (remaining keys, value).
type Body<'n> = Vec<(&'n [Key], &'n Node)>;

/// `ObjectList.Filter(name)`: items whose first key equals `name` case-insensitively, split
/// into those with keys left (HCL1's "children", `name "label" { }`) and those without
/// (`name = ...`).
fn filter<'n>(body: &Body<'n>, name: &str) -> (Body<'n>, Vec<&'n Node>) {
    let mut children = Vec::new();
    let mut elems = Vec::new();
    for &(keys, val) in body {
        let Some(first) = keys.first() else { continue };
        if !first.value.eq_ignore_ascii_case(name) {
            continue;
        }
        if keys.len() > 1 {
            children.push((&keys[1..], val));
        } else {
            elems.push(val);
        }
    }
    (children, elems)
}

/// The position HCL1 reports for an object turned into an object list: its first key's.
fn object_list_pos(items: &[Item]) -> Pos {
    items
        .first()
        .and_then(|i| i.keys.first())
        .map(|k| k.pos)
        .unwrap_or_default()
}

/// `decodeString` for one value.
fn string_of(path: &str, node: &Node) -> Result<String, String> {
    let (pos, go_type) = match &node.kind {
        NodeKind::Literal(Lit::Number | Lit::Str | Lit::Heredoc, value) => return Ok(value.clone()),
        NodeKind::Literal(..) => (node.pos, "*ast.LiteralType"),
        NodeKind::Object(items) => (object_list_pos(items), "*ast.ObjectList"),
        NodeKind::List(_) => (node.pos, "*ast.ListType"),
    };
    Err(pos_error(
        pos,
        format!("{path}: unknown type for string {go_type}"),
    ))
}

/// A string field of a struct: labelled blocks under its name are an error, otherwise the
/// last value wins.
fn string_field(path: &str, body: &Body<'_>, name: &str) -> Result<String, String> {
    let (children, elems) = filter(body, name);
    if let Some((keys, _)) = children.first() {
        return Err(pos_error(
            keys[0].pos,
            format!("{path}: unknown type for string *ast.ObjectList"),
        ));
    }
    let mut out = String::new();
    for node in elems {
        out = string_of(path, node)?;
    }
    Ok(out)
}

fn decode(items: &[Item]) -> Result<RawPolicy, String> {
    let top: Body<'_> = items.iter().map(|i| (i.keys.as_slice(), &i.val)).collect();
    let mut raw = RawPolicy {
        acl: string_field("root.acl", &top, "acl")?,
        ..Default::default()
    };
    for f in &NAMED_FIELDS {
        raw.named.push(decode_named(f, &top)?);
    }
    for r in TAIL_SCALARS {
        raw.tail
            .push(string_field(&format!("root.{}", r.name()), &top, r.name())?);
    }
    Ok(raw)
}

/// A slice-of-rules field: labelled blocks first, then `name = { label = { ... } }` forms,
/// as HCL1's decoder appends them.
fn decode_named(f: &Field, top: &Body<'_>) -> Result<Vec<RawRule>, String> {
    let path = format!("root.{}", f.hcl);
    let (children, elems) = filter(top, f.hcl);
    let mut rules = Vec::new();
    for (i, &(keys, val)) in children.iter().enumerate() {
        rules.push(decode_rule(f, &format!("{path}[{i}]"), keys, val)?);
    }
    for node in elems {
        match &node.kind {
            NodeKind::Object(inner) => {
                for (i, item) in inner.iter().enumerate() {
                    rules.push(decode_rule(
                        f,
                        &format!("{path}[{i}]"),
                        &item.keys,
                        &item.val,
                    )?);
                }
            }
            // Every element fails to decode, so the first one's error is the answer (an
            // empty list is no rules).
            NodeKind::List(list) => {
                if let Some(elem) = list.first() {
                    let at = format!("{path}[0]");
                    return Err(match &elem.kind {
                        // A bare object has no label to be the rule's name.
                        NodeKind::Object(items) => pos_error(
                            object_list_pos(items),
                            format!("{at}: {} asked for 'key', impossible", f.key_field),
                        ),
                        NodeKind::Literal(..) => pos_error(
                            elem.pos,
                            format!("{at}: not an object type for struct (*ast.LiteralType)"),
                        ),
                        NodeKind::List(_) => pos_error(
                            elem.pos,
                            format!("{at}: not an object type for struct (*ast.ListType)"),
                        ),
                    });
                }
            }
            NodeKind::Literal(..) => {
                return Err(pos_error(
                    node.pos,
                    format!("{path}: unknown slice type: *ast.LiteralType"),
                ));
            }
        }
    }
    Ok(rules)
}

/// One rule from an item with `keys` (the first is its name) and value `val`.
fn decode_rule<'n>(
    f: &Field,
    path: &str,
    keys: &'n [Key],
    val: &'n Node,
) -> Result<RawRule, String> {
    let body: Body<'n> = if keys.len() == 2 {
        // HCL1's `expandObject`: `a "b" { }` under a list field decodes as `a { "b" { } }`.
        vec![(&keys[1..], val)]
    } else {
        match &val.kind {
            NodeKind::Object(items) => items.iter().map(|i| (i.keys.as_slice(), &i.val)).collect(),
            // A literal body is read as a list holding the item itself.
            NodeKind::Literal(..) => vec![(keys, val)],
            NodeKind::List(_) => {
                return Err(pos_error(
                    val.pos,
                    format!("{path}: not an object type for struct (*ast.ListType)"),
                ));
            }
        }
    };
    let policy = string_field(&format!("{path}.Policy"), &body, "Policy")?;
    let intentions = if f.resource == Resource::Service {
        string_field(&format!("{path}.Intentions"), &body, "Intentions")?
    } else {
        String::new()
    };
    Ok(RawRule {
        name: keys[0].value.clone(),
        policy,
        intentions,
    })
}

// ---------------------------------------------------------------------------------------
// Validation (acl/policy.go `PolicyRules.Validate`) and the result.

/// `isPolicyValid`: a level, and `list` only where allowed (key rules).
fn level(text: &str, allow_list: bool) -> Option<Level> {
    Level::parse(text).filter(|l| allow_list || *l != Level::List)
}

fn validate(raw: RawPolicy) -> Result<Rules, String> {
    let mut rules = Rules::default();
    if !raw.acl.is_empty() {
        let l = level(&raw.acl, false)
            .ok_or_else(|| format!("Invalid acl policy: {}", go_quote(&raw.acl)))?;
        rules.scalars.push((Resource::Acl, l));
    }
    for (f, named) in NAMED_FIELDS.iter().zip(raw.named) {
        let allow_list = f.resource == Resource::Key;
        for r in named {
            let Some(policy) = level(&r.policy, allow_list) else {
                return Err(format!("Invalid {} policy: {}", f.hcl, go_rule(f, &r)));
            };
            let intentions = if r.intentions.is_empty() {
                None
            } else {
                let l = level(&r.intentions, false);
                if l.is_none() {
                    return Err(format!(
                        "Invalid {} intentions policy: {}",
                        f.hcl,
                        go_rule(f, &r)
                    ));
                }
                l
            };
            rules.named.push(NamedRule {
                resource: f.resource,
                name: r.name,
                prefix: f.prefix,
                policy,
                intentions,
            });
        }
    }
    for (r, text) in TAIL_SCALARS.into_iter().zip(raw.tail) {
        if text.is_empty() {
            continue;
        }
        let l = level(&text, false)
            .ok_or_else(|| format!("Invalid {} policy: {}", r.name(), go_quote(&text)))?;
        rules.scalars.push((r, l));
    }
    Ok(rules)
}

/// Go's `%#v` of a `*acl.<Kind>Rule`, e.g.
/// `&acl.KeyRule{Prefix:"foo", Policy:"bogus", EnterpriseRule:acl.EnterpriseRule{}}`.
fn go_rule(f: &Field, r: &RawRule) -> String {
    let mut s = format!(
        "&acl.{}{{{}:{}, Policy:{}",
        f.go_type,
        f.key_field,
        go_quote(&r.name),
        go_quote(&r.policy)
    );
    if f.resource == Resource::Service {
        let _ = write!(s, ", Intentions:{}", go_quote(&r.intentions));
    }
    if f.enterprise {
        s.push_str(", EnterpriseRule:acl.EnterpriseRule{}");
    }
    s.push('}');
    s
}

/// Go's `strconv.Quote` (what `%#v` and `%q` print for a string). Go's `unicode.IsPrint` is
/// approximated: controls, non-ASCII spaces and common format characters are escaped.
pub(crate) fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\x07' => out.push_str("\\a"),
            '\x08' => out.push_str("\\b"),
            '\x0c' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\x0b' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c == '\x7f' => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c if go_printable(c) => out.push(c),
            c if (c as u32) < 0x10000 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => {
                let _ = write!(out, "\\U{:08x}", c as u32);
            }
        }
    }
    out.push('"');
    out
}

fn go_printable(c: char) -> bool {
    if c.is_ascii() {
        return !c.is_ascii_control();
    }
    let u = c as u32;
    !(c.is_control()
        || c.is_whitespace()
        || u == 0xad
        || (0x200b..=0x200f).contains(&u)
        || (0x202a..=0x202e).contains(&u)
        || (0x2060..=0x206f).contains(&u)
        || u == 0xfeff
        || (0xfff9..=0xfffb).contains(&u)
        || (0xe000..=0xf8ff).contains(&u)
        || u >= 0xf0000)
}
