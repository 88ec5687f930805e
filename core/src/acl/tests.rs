//! Rules parsing (Consul's texts, HCL and JSON alike) and the authorizer against a
//! brute-force model of Consul's precedence.

use std::collections::BTreeMap;

use proptest::prelude::*;

use super::rules::go_quote;
use super::*;

fn rule(resource: Resource, name: &str, prefix: bool, policy: Level) -> NamedRule {
    NamedRule {
        resource,
        name: name.into(),
        prefix,
        policy,
        intentions: None,
    }
}

fn parse(text: &str) -> Rules {
    parse_rules(text).unwrap_or_else(|e| panic!("{text:?}: {e}"))
}

fn parse_err(text: &str) -> String {
    match parse_rules(text) {
        Ok(r) => panic!("{text:?} parsed: {r:?}"),
        Err(e) => e,
    }
}

// ---------------------------------------------------------------------------------------
// Parsing.

/// Consul's `TestPolicySourceParse` "Basic" case (acl/policy_test.go), both forms.
#[test]
fn hcl_and_json_forms_agree() {
    let hcl = r#"
        agent_prefix "bar" {
            policy = "write"
        }
        agent "foo" {
            policy = "read"
        }
        event_prefix "" {
            policy = "read"
        }
        event "foo" {
            policy = "write"
        }
        event "bar" {
            policy = "deny"
        }
        key_prefix "" {
            policy = "read"
        }
        key_prefix "foo/" {
            policy = "write"
        }
        key_prefix "foo/bar/" {
            policy = "read"
        }
        key "foo/bar/baz" {
            policy = "deny"
        }
        keyring = "deny"
        node_prefix "" {
            policy = "read"
        }
        node "foo" {
            policy = "write"
        }
        node "bar" {
            policy = "deny"
        }
        operator = "deny"
        mesh = "deny"
        peering = "deny"
        service_prefix "" {
            policy = "write"
        }
        service "foo" {
            policy = "read"
        }
        session "foo" {
            policy = "write"
        }
        session "bar" {
            policy = "deny"
        }
        session_prefix "baz" {
            policy = "deny"
        }
        query_prefix "" {
            policy = "read"
        }
        query "foo" {
            policy = "write"
        }
        query "bar" {
            policy = "deny"
        }
    "#;
    let json = r#"
        {
          "agent_prefix": { "bar": { "policy": "write" } },
          "agent": { "foo": { "policy": "read" } },
          "event_prefix": { "": { "policy": "read" } },
          "event": { "foo": { "policy": "write" }, "bar": { "policy": "deny" } },
          "key_prefix": {
            "": { "policy": "read" },
            "foo/": { "policy": "write" },
            "foo/bar/": { "policy": "read" }
          },
          "key": { "foo/bar/baz": { "policy": "deny" } },
          "keyring": "deny",
          "node_prefix": { "": { "policy": "read" } },
          "node": { "foo": { "policy": "write" }, "bar": { "policy": "deny" } },
          "operator": "deny",
          "mesh": "deny",
          "peering": "deny",
          "service_prefix": { "": { "policy": "write" } },
          "service": { "foo": { "policy": "read" } },
          "session_prefix": { "baz": { "policy": "deny" } },
          "session": { "foo": { "policy": "write" }, "bar": { "policy": "deny" } },
          "query_prefix": { "": { "policy": "read" } },
          "query": { "foo": { "policy": "write" }, "bar": { "policy": "deny" } }
        }
    "#;
    use Level::*;
    use Resource::*;
    let expected = Rules {
        named: vec![
            rule(Agent, "foo", false, Read),
            rule(Agent, "bar", true, Write),
            rule(Key, "foo/bar/baz", false, Deny),
            rule(Key, "", true, Read),
            rule(Key, "foo/", true, Write),
            rule(Key, "foo/bar/", true, Read),
            rule(Node, "foo", false, Write),
            rule(Node, "bar", false, Deny),
            rule(Node, "", true, Read),
            rule(Service, "foo", false, Read),
            rule(Service, "", true, Write),
            rule(Session, "foo", false, Write),
            rule(Session, "bar", false, Deny),
            rule(Session, "baz", true, Deny),
            rule(Event, "foo", false, Write),
            rule(Event, "bar", false, Deny),
            rule(Event, "", true, Read),
            rule(Query, "foo", false, Write),
            rule(Query, "bar", false, Deny),
            rule(Query, "", true, Read),
        ],
        scalars: vec![
            (Keyring, Deny),
            (Operator, Deny),
            (Mesh, Deny),
            (Peering, Deny),
        ],
    };
    assert_eq!(parse(hcl), expected);
    assert_eq!(parse(json), expected);
}

/// The node policy of the ACL walkthrough.
#[test]
fn walkthrough_node_policy() {
    let text = r#"agent_prefix "" { policy = "write" } node_prefix "" { policy = "write" } service_prefix "" { policy = "read" } session_prefix "" { policy = "read" }"#;
    let expected = Rules {
        named: vec![
            rule(Resource::Agent, "", true, Level::Write),
            rule(Resource::Node, "", true, Level::Write),
            rule(Resource::Service, "", true, Level::Read),
            rule(Resource::Session, "", true, Level::Read),
        ],
        scalars: vec![],
    };
    assert_eq!(parse(text), expected);
    let json = r#"{"agent_prefix": {"": {"policy": "write"}}, "node_prefix": {"": {"policy": "write"}},
        "service_prefix": {"": {"policy": "read"}}, "session_prefix": {"": {"policy": "read"}}}"#;
    assert_eq!(parse(json), expected);

    let authz = Authorizer::new(&[&expected], false);
    assert!(authz.allows(Resource::Node, "n1", Need::Write));
    assert!(authz.allows(Resource::Agent, "n1", Need::Write));
    assert!(authz.allows(Resource::Service, "web", Need::Read));
    assert!(!authz.allows(Resource::Service, "web", Need::Write));
    assert!(!authz.allows(Resource::Key, "k", Need::Read));
}

/// HCL1 forms HCL2 parsers reject: several attributes on one line, trailing commas.
#[test]
fn hcl1_one_line_blocks_and_commas() {
    let mut web = rule(Resource::Service, "web", false, Level::Write);
    web.intentions = Some(Level::Read);
    let expected = Rules {
        named: vec![web],
        scalars: vec![],
    };
    assert_eq!(
        parse(r#"service "web" { policy = "write" intentions = "read" }"#),
        expected
    );
    assert_eq!(
        parse(r#"service "web" { policy = "write", intentions = "read", }"#),
        expected
    );
    assert_eq!(
        parse(r#"{"service": {"web": {"policy": "write", "intentions": "read"}}}"#),
        expected
    );
}

#[test]
fn repeated_blocks_are_all_kept() {
    use Level::*;
    let expected = vec![
        rule(Resource::Key, "a", true, Read),
        rule(Resource::Key, "a", true, Write),
        rule(Resource::Key, "b", true, Deny),
    ];
    let hcl = "key_prefix \"a\" {\n policy = \"read\"\n}\nkey_prefix \"a\" {\n policy = \"write\"\n}\nkey_prefix \"b\" {\n policy = \"deny\"\n}\n";
    assert_eq!(parse(hcl).named, expected);
    // JSON keeps repeated keys too, at either level.
    let json = r#"{"key_prefix": {"a": {"policy": "read"}, "a": {"policy": "write"}}, "key_prefix": {"b": {"policy": "deny"}}}"#;
    assert_eq!(parse(json).named, expected);
}

#[test]
fn object_forms_and_case_insensitive_names() {
    let expected = vec![rule(Resource::Key, "foo/", true, Level::Write)];
    assert_eq!(
        parse(r#"key_prefix = { "foo/" = { policy = "write" } }"#).named,
        expected
    );
    assert_eq!(
        parse(r#"key_prefix { "foo/" { policy = "write" } }"#).named,
        expected
    );
    // HCL1 matches keys case-insensitively; levels are case-insensitive too.
    assert_eq!(
        parse(r#"KEY_PREFIX "foo/" { Policy = "WRITE" }"#).named,
        expected
    );
    assert_eq!(
        parse(r#"Operator = "Read""#).scalars,
        vec![(Resource::Operator, Level::Read)]
    );
}

#[test]
fn empty_comments_and_unknown_keys() {
    assert!(parse_rules("").unwrap().is_empty());
    assert!(parse_rules("  \n\t ").unwrap().is_empty());
    assert!(parse_rules("# nothing\n// here\n/* at\nall */")
        .unwrap()
        .is_empty());
    assert!(parse_rules("{}").unwrap().is_empty());
    // Consul ignores unknown keys (hashicorp/consul#11352), blocks and attributes alike.
    let text = "bogus = \"x\"\nfoo \"bar\" { policy = \"read\" }\nkey \"k\" {\n  policy = \"read\" # why\n  colour = \"blue\"\n}\r\n";
    assert_eq!(
        parse(text).named,
        vec![rule(Resource::Key, "k", false, Level::Read)]
    );
    // An empty scalar is unset.
    assert!(parse(r#"operator = """#).is_empty());
    // A number is a string to HCL1's decoder.
    assert_eq!(
        parse_err(r#"key "k" { policy = 1 }"#),
        r#"Invalid key policy: &acl.KeyRule{Prefix:"k", Policy:"1", EnterpriseRule:acl.EnterpriseRule{}}"#
    );
}

#[test]
fn escapes_and_heredocs() {
    let named = parse(r#"key "a\"b\\c\u00e9\t" { policy = "read" }"#).named;
    assert_eq!(named[0].name, "a\"b\\c\u{e9}\t");
    // A heredoc value keeps its final newline, so it is no level.
    assert_eq!(
        parse_err("key \"k\" {\n  policy = <<EOF\nread\nEOF\n}\n"),
        "Invalid key policy: &acl.KeyRule{Prefix:\"k\", Policy:\"read\\n\", EnterpriseRule:acl.EnterpriseRule{}}"
    );
    // `${...}` may hold quotes.
    assert_eq!(
        parse(r#"key "${a "b"}" { policy = "read" }"#).named[0].name,
        r#"${a "b"}"#
    );
}

/// Every invalid level gives Consul's text (acl/policy.go `PolicyRules.Validate`).
#[test]
fn invalid_levels_give_consuls_texts() {
    let cases = [
        (r#"acl = "list""#, r#"Invalid acl policy: "list""#),
        (r#"agent "foo" { policy = "nope" }"#, r#"Invalid agent policy: &acl.AgentRule{Node:"foo", Policy:"nope"}"#),
        (
            r#"agent_prefix "foo" { policy = "nope" }"#,
            r#"Invalid agent_prefix policy: &acl.AgentRule{Node:"foo", Policy:"nope"}"#,
        ),
        (
            r#"key "foo" { policy = "bogus" }"#,
            r#"Invalid key policy: &acl.KeyRule{Prefix:"foo", Policy:"bogus", EnterpriseRule:acl.EnterpriseRule{}}"#,
        ),
        (
            r#"key_prefix "foo" { policy = "nope" }"#,
            r#"Invalid key_prefix policy: &acl.KeyRule{Prefix:"foo", Policy:"nope", EnterpriseRule:acl.EnterpriseRule{}}"#,
        ),
        (
            r#"node "foo" { policy = "list" }"#,
            r#"Invalid node policy: &acl.NodeRule{Name:"foo", Policy:"list", EnterpriseRule:acl.EnterpriseRule{}}"#,
        ),
        (
            r#"node_prefix "foo" { policy = "nope" }"#,
            r#"Invalid node_prefix policy: &acl.NodeRule{Name:"foo", Policy:"nope", EnterpriseRule:acl.EnterpriseRule{}}"#,
        ),
        (
            r#"service "foo" { policy = "list" }"#,
            r#"Invalid service policy: &acl.ServiceRule{Name:"foo", Policy:"list", Intentions:"", EnterpriseRule:acl.EnterpriseRule{}}"#,
        ),
        (
            r#"service_prefix "foo" { policy = "nope" }"#,
            r#"Invalid service_prefix policy: &acl.ServiceRule{Name:"foo", Policy:"nope", Intentions:"", EnterpriseRule:acl.EnterpriseRule{}}"#,
        ),
        (
            r#"service "foo" { policy = "write" intentions = "foo" }"#,
            r#"Invalid service intentions policy: &acl.ServiceRule{Name:"foo", Policy:"write", Intentions:"foo", EnterpriseRule:acl.EnterpriseRule{}}"#,
        ),
        (
            r#"service_prefix "" { policy = "read" intentions = "list" }"#,
            r#"Invalid service_prefix intentions policy: &acl.ServiceRule{Name:"", Policy:"read", Intentions:"list", EnterpriseRule:acl.EnterpriseRule{}}"#,
        ),
        // A misnamed field leaves the policy empty (hashicorp/consul#5836).
        (
            r#"service "" { service = "write" }"#,
            r#"Invalid service policy: &acl.ServiceRule{Name:"", Policy:"", Intentions:"", EnterpriseRule:acl.EnterpriseRule{}}"#,
        ),
        (
            r#"session "foo" { policy = "nope" }"#,
            r#"Invalid session policy: &acl.SessionRule{Node:"foo", Policy:"nope"}"#,
        ),
        (
            r#"session_prefix "foo" { policy = "nope" }"#,
            r#"Invalid session_prefix policy: &acl.SessionRule{Node:"foo", Policy:"nope"}"#,
        ),
        (r#"event "foo" { policy = "nope" }"#, r#"Invalid event policy: &acl.EventRule{Event:"foo", Policy:"nope"}"#),
        (
            r#"event_prefix "foo" { policy = "nope" }"#,
            r#"Invalid event_prefix policy: &acl.EventRule{Event:"foo", Policy:"nope"}"#,
        ),
        (
            r#"query "foo" { policy = "nope" }"#,
            r#"Invalid query policy: &acl.PreparedQueryRule{Prefix:"foo", Policy:"nope"}"#,
        ),
        (
            r#"query_prefix "foo" { policy = "nope" }"#,
            r#"Invalid query_prefix policy: &acl.PreparedQueryRule{Prefix:"foo", Policy:"nope"}"#,
        ),
        (r#"keyring = "nope""#, r#"Invalid keyring policy: "nope""#),
        (r#"operator = "nope""#, r#"Invalid operator policy: "nope""#),
        (r#"mesh = "list""#, r#"Invalid mesh policy: "list""#),
        (r#"peering = "nope""#, r#"Invalid peering policy: "nope""#),
        // Names and levels are quoted as Go quotes them.
        (
            "key \"a\\\"b\\n\" { policy = \"r\u{e9}ad\" }",
            "Invalid key policy: &acl.KeyRule{Prefix:\"a\\\"b\\n\", Policy:\"r\u{e9}ad\", EnterpriseRule:acl.EnterpriseRule{}}",
        ),
    ];
    for (text, want) in cases {
        assert_eq!(parse_err(text), want, "{text}");
    }
    // The JSON forms fail alike.
    assert_eq!(
        parse_err(r#"{"service": {"foo": {"policy": "write", "intentions": "foo"}}}"#),
        r#"Invalid service intentions policy: &acl.ServiceRule{Name:"foo", Policy:"write", Intentions:"foo", EnterpriseRule:acl.EnterpriseRule{}}"#
    );
    assert_eq!(
        parse_err(r#"{ "acl": "list" }"#),
        r#"Invalid acl policy: "list""#
    );
    // `list` is valid on keys only.
    assert_eq!(
        parse(r#"key "k" { policy = "list" }"#).named[0].policy,
        Level::List
    );
    // The first invalid rule in Consul's field order is reported, not the first in the text.
    assert_eq!(
        parse_err(r#"operator = "x" key "k" { policy = "y" }"#),
        r#"Invalid key policy: &acl.KeyRule{Prefix:"k", Policy:"y", EnterpriseRule:acl.EnterpriseRule{}}"#
    );
}

/// Text HCL1 cannot read: `Failed to parse ACL rules: ` and HCL1's error.
#[test]
fn syntax_errors_give_consuls_texts() {
    let cases = [
        // hcl.DecodeErrorOnDuplicates: an argument set twice in one body.
        (
            "operator = \"read\"\noperator = \"write\"\n",
            r#"Failed to parse ACL rules: The argument "operator" at 2:1 was already set. Each argument can only be defined once"#,
        ),
        (
            r#"key "a" { policy = "read" policy = "write" }"#,
            r#"Failed to parse ACL rules: The argument "policy" at 1:27 was already set. Each argument can only be defined once"#,
        ),
        ("key_prefix \"\" {", "Failed to parse ACL rules: At 1:16: object expected closing RBRACE got: EOF"),
        ("key_prefix \"\" {\n  policy = \"read\"\n", "Failed to parse ACL rules: At 3:1: object expected closing RBRACE got: EOF"),
        (r#"key_prefix "" { policy = }"#, "Failed to parse ACL rules: At 1:26: Unknown token: 1:26 RBRACE }"),
        (r#"key_prefix "" policy"#, "Failed to parse ACL rules: At 1:21: key 'key_prefix \"\" policy' expected start of object ('{') or assignment ('=')"),
        (r#"key "a" "b" = "c""#, "Failed to parse ACL rules: At 1:13: nested object expected: LBRACE got: ASSIGN"),
        ("= \"read\"", "Failed to parse ACL rules: At 1:1: no object keys found!"),
        ("}", "Failed to parse ACL rules: At 1:1: expected: IDENT | STRING | ASSIGN | LBRACE got: RBRACE"),
        ("key \"k\" { policy = \"read }", "Failed to parse ACL rules: At 1:27: literal not terminated"),
        ("operator = @", "Failed to parse ACL rules: At 1:12: illegal char"),
        // Decoding errors (hcl/decoder.go).
        (r#"operator = true"#, "Failed to parse ACL rules: At 1:12: root.operator: unknown type for string *ast.LiteralType"),
        (r#"key "k" { policy = ["read"] }"#, "Failed to parse ACL rules: At 1:20: root.key[0].Policy: unknown type for string *ast.ListType"),
        (r#"key = "k""#, "Failed to parse ACL rules: At 1:7: root.key: unknown slice type: *ast.LiteralType"),
    ];
    for (text, want) in cases {
        assert_eq!(parse_err(text), want, "{text}");
    }
    // JSON syntax errors carry serde_json's wording after the same prefix.
    assert!(parse_err(r#"{"key": "#).starts_with("Failed to parse ACL rules: "));
}

#[test]
fn go_quote_matches_strconv_quote() {
    assert_eq!(go_quote("plain"), r#""plain""#);
    assert_eq!(go_quote("a\"b\\c"), r#""a\"b\\c""#);
    assert_eq!(
        go_quote("\u{7}\u{8}\u{c}\n\r\t\u{b}\u{1}\u{7f}"),
        r#""\a\b\f\n\r\t\v\x01\x7f""#
    );
    assert_eq!(go_quote("é日本"), "\"é日本\"");
    assert_eq!(
        go_quote("\u{a0}\u{200b}\u{feff}\u{f0000}"),
        r#""\u00a0\u200b\ufeff\U000f0000""#
    );
}

// ---------------------------------------------------------------------------------------
// The authorizer: unit cases.

#[test]
fn management_allows_everything() {
    let m = Authorizer::management();
    assert!(m.is_management());
    for r in Resource::ALL {
        for need in [Need::Read, Need::List, Need::Write] {
            assert!(m.allows(r, "anything", need));
            assert!(m.allows_any(r, need) && m.allows_all(r, need));
        }
    }
    assert!(m.key_write_prefix(""));
    assert!(m.intention_allows("*", Need::Write));
    assert!(!Authorizer::new(&[], true).is_management());
}

/// Consul's builtin `global-management` rules (agent/structs/acl.go) compile to an
/// authorizer that allows everything, even under a deny default.
#[test]
fn global_management_rules_allow_everything() {
    let text = super::model::GLOBAL_MANAGEMENT_RULES;
    let rules = parse(text);
    let authz = Authorizer::new(&[&rules], false);
    for r in Resource::ALL {
        for need in [Need::Read, Need::List, Need::Write] {
            assert!(authz.allows(r, "x", need), "{r:?} {need:?}");
        }
    }
    assert!(authz.key_write_prefix(""));
    assert!(authz.intention_allows("*", Need::Write));
    // Merged with a denying policy, the deny wins (as in Consul, unlike `management()`).
    let deny = parse(r#"key_prefix "secret/" { policy = "deny" }"#);
    let authz = Authorizer::new(&[&rules, &deny], false);
    assert!(!authz.allows(Resource::Key, "secret/x", Need::Read));
    assert!(!authz.key_write_prefix(""));
}

#[test]
fn default_policy_decides_where_no_rule_matches() {
    let rules = parse(r#"key_prefix "app/" { policy = "read" }"#);
    let allow = Authorizer::new(&[&rules], true);
    let deny = Authorizer::new(&[&rules], false);
    assert!(allow.allows(Resource::Key, "other", Need::Write));
    assert!(!deny.allows(Resource::Key, "other", Need::Read));
    // A matching rule decides, whatever the default.
    assert!(!allow.allows(Resource::Key, "app/x", Need::Write));
    assert!(deny.allows(Resource::Key, "app/x", Need::Read));
    // No rules at all.
    let empty = Authorizer::new(&[], true);
    assert!(empty.allows(Resource::Service, "web", Need::Write));
    assert!(empty.allows(Resource::Operator, "", Need::Write));
    assert!(!Authorizer::new(&[], false).allows(Resource::Service, "web", Need::Read));
}

#[test]
fn levels_against_needs() {
    let rules = parse(
        r#"key "w" { policy = "write" } key "l" { policy = "list" } key "r" { policy = "read" } key "d" { policy = "deny" }"#,
    );
    let authz = Authorizer::new(&[&rules], true);
    let check = |name, read, list, write| {
        assert_eq!(
            authz.allows(Resource::Key, name, Need::Read),
            read,
            "{name} read"
        );
        assert_eq!(
            authz.allows(Resource::Key, name, Need::List),
            list,
            "{name} list"
        );
        assert_eq!(
            authz.allows(Resource::Key, name, Need::Write),
            write,
            "{name} write"
        );
    };
    check("w", true, true, true);
    check("l", true, true, false);
    check("r", true, false, false);
    check("d", false, false, false);
}

#[test]
fn exact_beats_prefix_and_longest_prefix_wins() {
    let rules = parse(
        r#"key_prefix "" { policy = "read" }
           key_prefix "foo/" { policy = "write" }
           key_prefix "foo/bar/" { policy = "read" }
           key "foo/bar/baz" { policy = "deny" }
           key "foo/bar/" { policy = "write" }"#,
    );
    let authz = Authorizer::new(&[&rules], false);
    assert!(authz.allows(Resource::Key, "zzz", Need::Read));
    assert!(!authz.allows(Resource::Key, "zzz", Need::Write));
    assert!(authz.allows(Resource::Key, "foo/x", Need::Write));
    assert!(!authz.allows(Resource::Key, "foo/bar/x", Need::Write));
    assert!(authz.allows(Resource::Key, "foo/bar/", Need::Write));
    assert!(!authz.allows(Resource::Key, "foo/bar/baz", Need::Read));
    assert!(authz.allows(Resource::Key, "foo/bar/baz2", Need::Read));
}

#[test]
fn merging_takes_deny_then_the_most_permissive() {
    let a = parse(
        r#"service "web" { policy = "read" } node "n" { policy = "write" } operator = "read""#,
    );
    let b = parse(
        r#"service "web" { policy = "write" } node "n" { policy = "deny" } operator = "write""#,
    );
    let authz = Authorizer::new(&[&a, &b], true);
    assert!(authz.allows(Resource::Service, "web", Need::Write));
    assert!(!authz.allows(Resource::Node, "n", Need::Read));
    assert!(authz.allows(Resource::Operator, "", Need::Write));
    // Exact and prefix rules for the same name are different segments.
    let c = parse(r#"key "k" { policy = "deny" } key_prefix "k" { policy = "write" }"#);
    let authz = Authorizer::new(&[&c], false);
    assert!(!authz.allows(Resource::Key, "k", Need::Read));
    assert!(authz.allows(Resource::Key, "kk", Need::Write));
}

#[test]
fn scalars_and_their_fallbacks() {
    let allow_all = Authorizer::new(&[], true);
    // The default "allow" still denies acl (Consul's AllowAll): only a rule grants it.
    assert!(!allow_all.allows(Resource::Acl, "", Need::Read));
    assert!(allow_all.allows(Resource::Keyring, "", Need::Write));
    assert!(allow_all.allows(Resource::Mesh, "", Need::Write));
    let acl_read = parse(r#"acl = "read""#);
    let authz = Authorizer::new(&[&acl_read], true);
    assert!(authz.allows(Resource::Acl, "", Need::Read));
    assert!(!authz.allows(Resource::Acl, "", Need::Write));

    // Mesh and peering fall back to operator, then to the default.
    let op = parse(r#"operator = "read""#);
    let authz = Authorizer::new(&[&op], true);
    assert!(authz.allows(Resource::Mesh, "", Need::Read));
    assert!(!authz.allows(Resource::Mesh, "", Need::Write));
    assert!(!authz.allows(Resource::Peering, "", Need::Write));
    assert!(
        authz.allows(Resource::Keyring, "", Need::Write),
        "keyring has no fallback"
    );
    let mesh = parse(r#"operator = "read" mesh = "write" peering = "deny""#);
    let authz = Authorizer::new(&[&mesh], false);
    assert!(authz.allows(Resource::Mesh, "", Need::Write));
    assert!(!authz.allows(Resource::Peering, "", Need::Read));
    assert!(authz.allows(Resource::Operator, "", Need::Read));
    assert!(!authz.allows(Resource::Keyring, "", Need::Read));
}

#[test]
fn intentions_follow_the_service_policy_unless_set() {
    let rules = parse(
        r#"service "web" { policy = "write" }
           service "db" { policy = "read" intentions = "write" }
           service "x" { policy = "deny" }
           service_prefix "" { policy = "read" intentions = "deny" }"#,
    );
    let authz = Authorizer::new(&[&rules], true);
    assert!(authz.intention_allows("web", Need::Read));
    assert!(!authz.intention_allows("web", Need::Write));
    assert!(authz.intention_allows("db", Need::Write));
    assert!(!authz.intention_allows("x", Need::Read));
    assert!(!authz.intention_allows("other", Need::Read));
    // Wildcard: read needs some grant, write needs no deny.
    assert!(authz.intention_allows("*", Need::Read));
    assert!(!authz.intention_allows("*", Need::Write));
    // Merged intentions: set beats unset, then the usual precedence.
    let a = parse(r#"service "web" { policy = "write" }"#);
    let b = parse(r#"service "web" { policy = "read" intentions = "write" }"#);
    assert!(Authorizer::new(&[&a, &b], false).intention_allows("web", Need::Write));
    let c = parse(r#"service "web" { policy = "deny" }"#);
    assert!(!Authorizer::new(&[&a, &c], true).intention_allows("web", Need::Read));
}

#[test]
fn key_write_prefix_needs_write_on_everything_below() {
    let rules = parse(
        r#"key_prefix "" { policy = "write" }
           key "app/locked" { policy = "read" }"#,
    );
    let authz = Authorizer::new(&[&rules], false);
    assert!(!authz.key_write_prefix(""));
    assert!(!authz.key_write_prefix("app/"));
    assert!(authz.key_write_prefix("app/o"));
    assert!(authz.key_write_prefix("other/"));
    let none = parse(r#"key_prefix "app/" { policy = "write" }"#);
    assert!(!Authorizer::new(&[&none], false).key_write_prefix(""));
    assert!(Authorizer::new(&[&none], true).key_write_prefix(""));
    assert!(Authorizer::new(&[&none], false).key_write_prefix("app/x"));
}

// ---------------------------------------------------------------------------------------
// Properties: the authorizer against a brute-force model of Consul's precedence.

const NAMES: [&str; 8] = ["", "a", "ab", "abc", "b", "é", "éa", "a/é"];
const NAMED: [Resource; 3] = [Resource::Key, Resource::Service, Resource::Node];
const SCALARS: [Resource; 5] = [
    Resource::Acl,
    Resource::Keyring,
    Resource::Mesh,
    Resource::Operator,
    Resource::Peering,
];
const NEEDS: [Need; 3] = [Need::Read, Need::List, Need::Write];

/// Names that reach every rule's effect: each rule name, each extended past any rule
/// name ("~" follows no rule name), and one no rule but `""` covers.
fn universe() -> Vec<String> {
    let mut u: Vec<String> = NAMES.iter().map(|n| n.to_string()).collect();
    u.extend(NAMES.iter().map(|n| format!("{n}~")));
    u.push("zz".into());
    u
}

fn level_strategy(list: bool) -> impl Strategy<Value = Level> {
    let mut levels = vec![Level::Deny, Level::Read, Level::Write];
    if list {
        levels.push(Level::List);
    }
    prop::sample::select(levels)
}

fn named_rule_strategy() -> impl Strategy<Value = NamedRule> {
    (
        prop::sample::select(NAMED.to_vec()),
        prop::sample::select(NAMES.to_vec()),
        any::<bool>(),
    )
        .prop_flat_map(|(resource, name, prefix)| {
            let intentions = if resource == Resource::Service {
                prop::option::of(level_strategy(false)).boxed()
            } else {
                Just(None).boxed()
            };
            (level_strategy(resource == Resource::Key), intentions).prop_map(
                move |(policy, intentions)| NamedRule {
                    resource,
                    name: name.to_string(),
                    prefix,
                    policy,
                    intentions,
                },
            )
        })
}

fn rules_strategy() -> impl Strategy<Value = Rules> {
    (
        prop::collection::vec(named_rule_strategy(), 0..8),
        prop::collection::btree_map(
            prop::sample::select(SCALARS.to_vec()),
            level_strategy(false),
            0..3,
        ),
    )
        .prop_map(|(named, scalars)| Rules {
            named,
            scalars: scalars.into_iter().collect(),
        })
}

fn model_rank(l: Level) -> u8 {
    match l {
        Level::Read => 0,
        Level::List => 1,
        Level::Write => 2,
        Level::Deny => 3,
    }
}

fn model_enforce(level: Level, need: Need) -> bool {
    match (level, need) {
        (Level::Deny, _) => false,
        (Level::Write, _) => true,
        (Level::List, Need::Read | Need::List) => true,
        (Level::Read, Need::Read) => true,
        _ => false,
    }
}

/// All rules for `resource`, same (prefix, name) merged by deny > write > list > read.
/// With `intentions`, a service rule's merged intentions (or its derived level) instead.
fn model_segments(
    all: &[Rules],
    resource: Resource,
    intentions: bool,
) -> BTreeMap<(bool, String), Level> {
    let mut merged: BTreeMap<(bool, String), (Level, Option<Level>)> = BTreeMap::new();
    for rules in all {
        for r in rules.named.iter().filter(|r| r.resource == resource) {
            let seg = merged
                .entry((r.prefix, r.name.clone()))
                .or_insert((r.policy, r.intentions));
            if model_rank(r.policy) > model_rank(seg.0) {
                seg.0 = r.policy;
            }
            seg.1 = match (seg.1, r.intentions) {
                (Some(a), Some(b)) if model_rank(b) > model_rank(a) => Some(b),
                (None, b) => b,
                (a, _) => a,
            };
        }
    }
    merged
        .into_iter()
        .map(|(k, (policy, int))| {
            let level = if !intentions {
                policy
            } else {
                int.unwrap_or(if matches!(policy, Level::Read | Level::Write) {
                    Level::Read
                } else {
                    Level::Deny
                })
            };
            (k, level)
        })
        .collect()
}

/// The exact rule for `name`, else the longest prefix rule whose name prefixes it.
fn model_lookup(segments: &BTreeMap<(bool, String), Level>, name: &str) -> Option<Level> {
    if let Some(l) = segments.get(&(false, name.to_string())) {
        return Some(*l);
    }
    segments
        .iter()
        .filter(|((prefix, n), _)| *prefix && name.starts_with(n.as_str()))
        .max_by_key(|((_, n), _)| n.len())
        .map(|(_, l)| *l)
}

fn model_allows(
    all: &[Rules],
    default_allow: bool,
    resource: Resource,
    name: &str,
    need: Need,
) -> bool {
    let level = if resource.is_scalar() {
        let scalar = |r: Resource| {
            all.iter()
                .flat_map(|rules| rules.scalars.iter())
                .filter(|(s, _)| *s == r)
                .map(|(_, l)| *l)
                .max_by_key(|l| model_rank(*l))
        };
        match resource {
            Resource::Mesh | Resource::Peering => {
                scalar(resource).or_else(|| scalar(Resource::Operator))
            }
            _ => scalar(resource),
        }
    } else {
        model_lookup(&model_segments(all, resource, false), name)
    };
    match level {
        Some(l) => model_enforce(l, need),
        None => default_allow && resource != Resource::Acl,
    }
}

fn model_intention(all: &[Rules], default_allow: bool, name: &str, need: Need) -> bool {
    match model_lookup(&model_segments(all, Resource::Service, true), name) {
        Some(l) => model_enforce(l, need),
        None => default_allow,
    }
}

/// The brief's definition: the longest prefix rule covering `prefix` (or the default)
/// grants write, and every rule whose name starts with `prefix` is write.
fn model_key_write_prefix(all: &[Rules], default_allow: bool, prefix: &str) -> bool {
    let segments = model_segments(all, Resource::Key, false);
    let base = segments
        .iter()
        .filter(|((p, n), _)| *p && prefix.starts_with(n.as_str()))
        .max_by_key(|((_, n), _)| n.len())
        .map(|(_, l)| *l);
    let base_ok = base.map_or(default_allow, |l| l == Level::Write);
    base_ok
        && segments
            .iter()
            .filter(|((_, n), _)| n.starts_with(prefix))
            .all(|(_, l)| *l == Level::Write)
}

fn query_strategy() -> impl Strategy<Value = (Resource, String, Need)> {
    let resources: Vec<Resource> = NAMED.iter().chain(SCALARS.iter()).copied().collect();
    (
        prop::sample::select(resources),
        prop::sample::select(universe()),
        prop::sample::select(NEEDS.to_vec()),
    )
}

proptest! {
    #[test]
    fn allows_matches_the_model(
        all in prop::collection::vec(rules_strategy(), 0..4),
        queries in prop::collection::vec(query_strategy(), 1..24),
        default_allow in any::<bool>(),
    ) {
        let refs: Vec<&Rules> = all.iter().collect();
        let authz = Authorizer::new(&refs, default_allow);
        for (resource, name, need) in &queries {
            prop_assert_eq!(
                authz.allows(*resource, name, *need),
                model_allows(&all, default_allow, *resource, name, *need),
                "{:?} {:?} {:?}", resource, name, need
            );
            prop_assert_eq!(
                authz.intention_allows(name, *need),
                model_intention(&all, default_allow, name, *need),
                "intention {:?} {:?}", name, need
            );
        }
    }

    #[test]
    fn key_write_prefix_matches_the_model(
        all in prop::collection::vec(rules_strategy(), 0..4),
        default_allow in any::<bool>(),
    ) {
        let refs: Vec<&Rules> = all.iter().collect();
        let authz = Authorizer::new(&refs, default_allow);
        for prefix in universe() {
            let got = authz.key_write_prefix(&prefix);
            prop_assert_eq!(got, model_key_write_prefix(&all, default_allow, &prefix), "{:?}", prefix);
            // And it means what it says: write on every key under the prefix.
            let every = universe()
                .iter()
                .filter(|n| n.starts_with(prefix.as_str()))
                .chain(std::iter::once(&format!("{prefix}~")))
                .all(|n| authz.allows(Resource::Key, n, Need::Write));
            prop_assert_eq!(got, every, "semantic {:?}", prefix);
        }
    }

    /// Consul's anyAllowed / allAllowed (and the `*` intention checks) agree with asking
    /// every name.
    #[test]
    fn any_and_all_agree_with_every_name(
        all in prop::collection::vec(rules_strategy(), 0..4),
        default_allow in any::<bool>(),
    ) {
        let refs: Vec<&Rules> = all.iter().collect();
        let authz = Authorizer::new(&refs, default_allow);
        let u = universe();
        for resource in NAMED {
            for need in NEEDS {
                prop_assert_eq!(
                    authz.allows_any(resource, need),
                    u.iter().any(|n| authz.allows(resource, n, need)),
                    "any {:?} {:?}", resource, need
                );
                prop_assert_eq!(
                    authz.allows_all(resource, need),
                    u.iter().all(|n| authz.allows(resource, n, need)),
                    "all {:?} {:?}", resource, need
                );
            }
        }
        prop_assert_eq!(authz.intention_allows("*", Need::Read), u.iter().any(|n| authz.intention_allows(n, Need::Read)));
        prop_assert_eq!(authz.intention_allows("*", Need::Write), u.iter().all(|n| authz.intention_allows(n, Need::Write)));
    }

    /// Rules written out as HCL (one line per block, levels in any case) and as JSON
    /// (a top-level key per rule) parse back to themselves.
    #[test]
    fn rendered_rules_parse_back(rules in rules_strategy(), upper in any::<bool>(), name in "\\PC{0,6}") {
        let mut rules = rules;
        if let Some(first) = rules.named.first_mut() {
            // `${` opens an interpolation, which HCL1 copies without unescaping.
            first.name = name.replace("${", "$");
        }
        let field_order = |r: &NamedRule| {
            let group = [Resource::Agent, Resource::Key, Resource::Node, Resource::Service, Resource::Session, Resource::Event, Resource::Query]
                .iter()
                .position(|g| *g == r.resource)
                .unwrap_or(usize::MAX);
            group * 2 + usize::from(r.prefix)
        };
        let scalar_order = |r: &Resource| [Resource::Acl, Resource::Keyring, Resource::Operator, Resource::Mesh, Resource::Peering].iter().position(|s| s == r);
        let mut expected = rules.clone();
        expected.named.sort_by_key(field_order);
        expected.scalars.sort_by_key(|(r, _)| scalar_order(r));

        let level = |l: Level| if upper { l.as_str().to_uppercase() } else { l.as_str().to_string() };
        let kind = |r: &NamedRule| format!("{}{}", r.resource.name(), if r.prefix { "_prefix" } else { "" });
        let mut hcl = String::new();
        let mut json = Vec::new();
        for r in &rules.named {
            let int_hcl = r.intentions.map(|i| format!(" intentions = \"{}\"", level(i))).unwrap_or_default();
            hcl.push_str(&format!("{} {} {{ policy = \"{}\"{} }}\n", kind(r), go_quote(&r.name), level(r.policy), int_hcl));
            let mut body = serde_json::Map::new();
            body.insert("policy".into(), level(r.policy).into());
            if let Some(i) = r.intentions {
                body.insert("intentions".into(), level(i).into());
            }
            json.push(format!("{}: {{{}: {}}}", serde_json::json!(kind(r)), serde_json::json!(r.name), serde_json::Value::Object(body)));
        }
        for (r, l) in &rules.scalars {
            hcl.push_str(&format!("{} = \"{}\"\n", r.name(), level(*l)));
            json.push(format!("{}: \"{}\"", serde_json::json!(r.name()), level(*l)));
        }
        let json = format!("{{{}}}", json.join(", "));
        prop_assert_eq!(parse_rules(&hcl), Ok(expected.clone()), "{}", hcl);
        prop_assert_eq!(parse_rules(&json), Ok(expected), "{}", json);
    }
}
