//! `?filter=` expressions: the go-bexpr subset Consul documents (§1.7), evaluated against the
//! JSON form of each result element. Pure. Written by hand: no crate implements bexpr.
//!
//! Grammar (`not` binds tighter than `and`, which binds tighter than `or`):
//! ```text
//! expr    := and ("or" and)*
//! and     := unary ("and" unary)*
//! unary   := "not" unary | "(" expr ")" | match
//! match   := selector ("==" | "!=") value
//!          | selector "is" ["not"] "empty"
//!          | value ["not"] "in" selector
//!          | selector ["not"] ("contains" | "matches") value
//! ```

use serde_json::Value;

/// A parsed filter.
#[derive(Debug, Clone)]
pub enum Filter {
    Or(Box<Filter>, Box<Filter>),
    And(Box<Filter>, Box<Filter>),
    Not(Box<Filter>),
    Equal {
        selector: Vec<String>,
        value: String,
        negate: bool,
    },
    Empty {
        selector: Vec<String>,
        negate: bool,
    },
    In {
        selector: Vec<String>,
        value: String,
        negate: bool,
    },
    Matches {
        selector: Vec<String>,
        regex: regex::Regex,
        negate: bool,
    },
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Word(String),
    Str(String),
    Op(&'static str),
    Open,
    Close,
}

fn lex(input: &str) -> Result<Vec<Token>, String> {
    let chars: Vec<char> = input.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            c if c.is_whitespace() => i += 1,
            '(' => {
                tokens.push(Token::Open);
                i += 1
            }
            ')' => {
                tokens.push(Token::Close);
                i += 1
            }
            '=' | '!' if chars.get(i + 1) == Some(&'=') => {
                tokens.push(Token::Op(if c == '=' { "==" } else { "!=" }));
                i += 2;
            }
            '"' | '`' => {
                let quote = c;
                let mut s = String::new();
                i += 1;
                loop {
                    let Some(&ch) = chars.get(i) else {
                        return Err(format!("1:{}: unterminated string", i + 1));
                    };
                    i += 1;
                    if ch == quote {
                        break;
                    }
                    if ch == '\\' && quote == '"' {
                        let Some(&esc) = chars.get(i) else {
                            return Err("unterminated escape".into());
                        };
                        i += 1;
                        s.push(match esc {
                            'n' => '\n',
                            't' => '\t',
                            other => other,
                        });
                    } else {
                        s.push(ch);
                    }
                }
                tokens.push(Token::Str(s));
            }
            '[' => {
                // Map index in a selector: `Meta["some key"]` becomes the segment `some key`.
                let close = chars[i..]
                    .iter()
                    .position(|&c| c == ']')
                    .ok_or("unterminated [")?;
                let inner: String = chars[i + 1..i + close].iter().collect();
                let key = inner.trim().trim_matches('"').to_string();
                match tokens.last_mut() {
                    Some(Token::Word(w)) => {
                        w.push('.');
                        w.push_str(&key.replace('.', "\u{0}"));
                    }
                    _ => return Err(format!("1:{}: index without a selector", i + 1)),
                }
                i += close + 1;
            }
            c if c.is_alphanumeric()
                || c == '_'
                || c == '.'
                || c == '-'
                || c == '/'
                || c == ':' =>
            {
                let start = i;
                while i < chars.len() && (chars[i].is_alphanumeric() || "_.-/:".contains(chars[i]))
                {
                    i += 1;
                }
                tokens.push(Token::Word(chars[start..i].iter().collect()));
            }
            other => return Err(format!("1:{}: unexpected {other:?}", i + 1)),
        }
    }
    Ok(tokens)
}

struct Parser {
    tokens: Vec<Token>,
    at: usize,
}

impl Parser {
    fn peek_word(&self, word: &str) -> bool {
        matches!(self.tokens.get(self.at), Some(Token::Word(w)) if w == word)
    }

    fn next(&mut self) -> Option<Token> {
        let t = self.tokens.get(self.at).cloned();
        self.at += 1;
        t
    }

    fn expect_word(&mut self, word: &str) -> Result<(), String> {
        if self.peek_word(word) {
            self.at += 1;
            Ok(())
        } else {
            Err(format!("expected {word:?}"))
        }
    }

    fn expr(&mut self) -> Result<Filter, String> {
        let mut left = self.and()?;
        while self.peek_word("or") {
            self.at += 1;
            left = Filter::Or(Box::new(left), Box::new(self.and()?));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Filter, String> {
        let mut left = self.unary()?;
        while self.peek_word("and") {
            self.at += 1;
            left = Filter::And(Box::new(left), Box::new(self.unary()?));
        }
        Ok(left)
    }

    fn unary(&mut self) -> Result<Filter, String> {
        if self.peek_word("not") {
            self.at += 1;
            return Ok(Filter::Not(Box::new(self.unary()?)));
        }
        if self.tokens.get(self.at) == Some(&Token::Open) {
            self.at += 1;
            let inner = self.expr()?;
            if self.next() != Some(Token::Close) {
                return Err("expected \")\"".into());
            }
            return Ok(inner);
        }
        self.matcher()
    }

    fn matcher(&mut self) -> Result<Filter, String> {
        let first = self.next().ok_or("unexpected end of expression")?;
        // `value [not] in selector`
        let in_follows = self.peek_word("in")
            || (self.peek_word("not")
                && matches!(self.tokens.get(self.at + 1), Some(Token::Word(w)) if w == "in"));
        if in_follows {
            let value = literal(first)?;
            let negate = self.peek_word("not");
            if negate {
                self.at += 1;
            }
            self.expect_word("in")?;
            let selector = self.selector()?;
            return Ok(Filter::In {
                selector,
                value,
                negate,
            });
        }
        let Token::Word(sel) = first else {
            return Err("expected a selector".into());
        };
        let selector = split_selector(&sel);
        match self.next() {
            Some(Token::Op(op)) => {
                let value = literal(self.next().ok_or("expected a value")?)?;
                Ok(Filter::Equal {
                    selector,
                    value,
                    negate: op == "!=",
                })
            }
            Some(Token::Word(w)) if w == "is" => {
                let negate = self.peek_word("not");
                if negate {
                    self.at += 1;
                }
                self.expect_word("empty")?;
                Ok(Filter::Empty { selector, negate })
            }
            Some(Token::Word(w)) if w == "contains" || w == "matches" || w == "not" => {
                let (negate, verb) = if w == "not" {
                    match self.next() {
                        Some(Token::Word(v)) if v == "contains" || v == "matches" => (true, v),
                        _ => {
                            return Err("expected \"contains\" or \"matches\" after \"not\"".into())
                        }
                    }
                } else {
                    (false, w)
                };
                let value = literal(self.next().ok_or("expected a value")?)?;
                if verb == "contains" {
                    Ok(Filter::In {
                        selector,
                        value,
                        negate,
                    })
                } else {
                    let regex = regex::Regex::new(&value).map_err(|e| e.to_string())?;
                    Ok(Filter::Matches {
                        selector,
                        regex,
                        negate,
                    })
                }
            }
            other => Err(format!("unexpected {other:?} after selector {sel:?}")),
        }
    }

    fn selector(&mut self) -> Result<Vec<String>, String> {
        match self.next() {
            Some(Token::Word(w)) => Ok(split_selector(&w)),
            _ => Err("expected a selector".into()),
        }
    }
}

fn literal(t: Token) -> Result<String, String> {
    match t {
        Token::Str(s) | Token::Word(s) => Ok(s),
        other => Err(format!("expected a value, found {other:?}")),
    }
}

fn split_selector(s: &str) -> Vec<String> {
    s.split('.').map(|p| p.replace('\u{0}', ".")).collect()
}

/// Parses a filter; the error is the text Consul wraps in a 500.
pub fn parse(input: &str) -> Result<Filter, String> {
    let wrap = |e: String| format!("Failed to create boolean expression evaluator: {e}");
    let mut p = Parser {
        tokens: lex(input).map_err(wrap)?,
        at: 0,
    };
    let f = p.expr().map_err(wrap)?;
    if p.at != p.tokens.len() {
        return Err(wrap(format!("unexpected {:?}", p.tokens[p.at])));
    }
    Ok(f)
}

/// Follows a selector; field names match exactly, else case-insensitively. A selector that
/// runs into a list (e.g. `Checks.Status`) finds nothing: go-bexpr's rules for selecting
/// through slices are not implemented.
fn lookup<'a>(v: &'a Value, selector: &[String]) -> Option<&'a Value> {
    let mut cur = v;
    for part in selector {
        let Value::Object(m) = cur else { return None };
        cur = m.get(part).or_else(|| {
            m.iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(part))
                .map(|(_, v)| v)
        })?;
    }
    Some(cur)
}

fn as_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

impl Filter {
    /// True when `v` passes.
    pub fn matches(&self, v: &Value) -> bool {
        match self {
            Filter::Or(a, b) => a.matches(v) || b.matches(v),
            Filter::And(a, b) => a.matches(v) && b.matches(v),
            Filter::Not(a) => !a.matches(v),
            Filter::Equal {
                selector,
                value,
                negate,
            } => {
                let found = lookup(v, selector).is_some_and(|x| as_text(x) == *value);
                found != *negate
            }
            Filter::Empty { selector, negate } => {
                let empty = match lookup(v, selector) {
                    None | Some(Value::Null) => true,
                    Some(Value::String(s)) => s.is_empty(),
                    Some(Value::Array(a)) => a.is_empty(),
                    Some(Value::Object(o)) => o.is_empty(),
                    Some(_) => false,
                };
                empty != *negate
            }
            Filter::In {
                selector,
                value,
                negate,
            } => {
                let found = match lookup(v, selector) {
                    Some(Value::Array(a)) => a.iter().any(|x| as_text(x) == *value),
                    Some(Value::Object(o)) => o.contains_key(value),
                    Some(Value::String(s)) => s.contains(value.as_str()),
                    _ => false,
                };
                found != *negate
            }
            Filter::Matches {
                selector,
                regex,
                negate,
            } => {
                let found = lookup(v, selector).is_some_and(|x| regex.is_match(&as_text(x)));
                found != *negate
            }
        }
    }

    /// True when `item`'s JSON form passes.
    pub fn passes<T: serde::Serialize>(&self, item: &T) -> bool {
        serde_json::to_value(item).is_ok_and(|v| self.matches(&v))
    }

    /// Keeps the items whose JSON form passes.
    pub fn keep<T: serde::Serialize>(&self, items: Vec<T>) -> Vec<T> {
        items.into_iter().filter(|i| self.passes(i)).collect()
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use serde_json::json;

    use super::*;

    fn check(expr: &str, v: &Value) -> bool {
        parse(expr)
            .unwrap_or_else(|e| panic!("{expr}: {e}"))
            .matches(v)
    }

    #[test]
    fn consul_documented_forms() {
        let v = json!({"Service": "web", "Tags": ["v1", "prod"], "Meta": {"env": "prod", "a b": "x"}, "Port": 8080,
                        "Address": "", "Node": {"Node": "n1", "Meta": {"rack": "r1"}}, "Enabled": true});
        assert!(check("Service == web", &v));
        assert!(check("Service == \"web\"", &v));
        assert!(check("Service != db", &v));
        assert!(check("Port == 8080", &v));
        assert!(check("Enabled == true", &v));
        assert!(check("v1 in Tags", &v));
        assert!(check("\"v2\" not in Tags", &v));
        assert!(check("Tags contains prod", &v));
        assert!(check("Meta.env == prod", &v));
        assert!(check("env in Meta", &v));
        assert!(check("Meta[\"a b\"] == x", &v));
        assert!(check("Node.Meta.rack == r1", &v));
        assert!(check("Address is empty", &v));
        assert!(check("Tags is not empty", &v));
        assert!(check("Service matches \"^w.b$\"", &v));
        assert!(check("Service not matches `^db`", &v));
        assert!(check(
            "Service == db or (Port == 8080 and not Tags is empty)",
            &v
        ));
        assert!(!check("Service == db or Port == 1", &v));
        assert!(check("not Service == db and Service == web", &v));
        assert!(
            check("service == web", &v),
            "field names fall back to case-insensitive"
        );
    }

    #[test]
    fn syntax_errors_are_consul_texts() {
        for bad in [
            "Service ==",
            "(Service == web",
            "== web",
            "Service is full",
            "Service matches \"(\"",
        ] {
            let e = parse(bad).unwrap_err();
            assert!(
                e.starts_with("Failed to create boolean expression evaluator: "),
                "{bad}: {e}"
            );
        }
    }

    proptest! {
        #[test]
        fn parser_never_panics(s in "[a-zA-Z .\"`()=!\\[\\]]{0,60}") {
            let _ = parse(&s);
        }
    }
}
