//! Synthetic policies: what a token's service and node identities and Consul's built-in
//! policy templates (`builtin/service`, ...) grant, as rules text. The template texts follow
//! Consul 1.21's `agent/structs/acltemplatedpolicy/policytemplates/*.hcl`.

use super::model::Grants;

/// One of Consul's built-in policy templates.
pub struct Template {
    pub name: &'static str,
    /// Whether it takes `TemplateVariables.Name`.
    pub needs_name: bool,
    pub description: &'static str,
    /// The rules, with `{{.Name}}` where the variable goes.
    pub text: &'static str,
}

const SERVICE: &str = r#"
service "{{.Name}}" {
	policy = "write"
}
service "{{.Name}}-sidecar-proxy" {
	policy = "write"
}
service_prefix "" {
	policy = "read"
}
node_prefix "" {
	policy = "read"
}"#;

const NODE: &str = r#"
node "{{.Name}}" {
	policy = "write"
}
service_prefix "" {
	policy = "read"
}"#;

const DNS: &str = r#"
node_prefix "" {
	policy = "read"
}
service_prefix "" {
	policy = "read"
}
query_prefix "" {
	policy = "read"
}"#;

const NOMAD_SERVER: &str = r#"
acl = "write"
agent_prefix "" {
  policy = "read"
}
node_prefix "" {
  policy = "read"
}
service_prefix "" {
  policy = "write"
}"#;

const API_GATEWAY: &str = r#"
mesh = "read"
node_prefix "" {
	policy = "read"
}
service_prefix "" {
	policy = "read"
}
service "{{.Name}}" {
	policy = "write"
}"#;

const NOMAD_CLIENT: &str = r#"
agent_prefix "" {
  policy = "read"
}
node_prefix "" {
  policy = "write"
}
service_prefix "" {
  policy = "write"
}
key_prefix "" {
  policy = "read"
}"#;

/// Every built-in template, in name order (as Consul lists them).
pub const TEMPLATES: &[Template] = &[
    Template {
        name: "builtin/api-gateway",
        needs_name: true,
        description: "Gives the token or role permissions for a Consul api gateway",
        text: API_GATEWAY,
    },
    Template {
        name: "builtin/dns",
        needs_name: false,
        description: "Gives the token or role permissions for the Consul DNS to query services in the network.",
        text: DNS,
    },
    Template {
        name: "builtin/node",
        needs_name: true,
        description: "Gives the token or role permissions for a register an agent/node into the catalog. A node is typically a consul agent but can also be a physical server, cloud instance or a container.",
        text: NODE,
    },
    Template {
        name: "builtin/nomad-client",
        needs_name: false,
        description: "Gives the token or role permissions required for integration with a nomad client.",
        text: NOMAD_CLIENT,
    },
    Template {
        name: "builtin/nomad-server",
        needs_name: false,
        description: "Gives the token or role permissions required for integration with a nomad server.",
        text: NOMAD_SERVER,
    },
    Template {
        name: "builtin/service",
        needs_name: true,
        description: "Gives the token or role permissions to register a service and discover services in the Consul catalog. It also gives the specified service's sidecar proxy the permission to discover and route traffic to other services.",
        text: SERVICE,
    },
];

/// The JSON schema of a template's variables, as Consul shows it.
pub fn schema(template: &Template) -> &'static str {
    if template.needs_name {
        "{\n\t\"type\": \"object\",\n\t\"properties\": {\n\t\t\"name\": { \"type\": \"string\", \"$ref\": \"#/definitions/min-length-one\" }\n\t},\n\t\"required\": [\"name\"],\n\t\"definitions\": {\n\t\t\"min-length-one\": {\n\t\t\t\t\"type\": \"string\",\n\t\t\t\t\"minLength\": 1\n\t\t}\n\t}\n}"
    } else {
        ""
    }
}

pub fn template(name: &str) -> Option<&'static Template> {
    TEMPLATES.iter().find(|t| t.name == name)
}

/// A template's rules with its variable filled in.
pub fn render(template: &Template, name: &str) -> String {
    template.text.replace("{{.Name}}", name)
}

/// The synthetic rules `grants` carry in `datacenter`: service identities (everywhere, or
/// in their listed datacenters), node identities (in their datacenter), templated policies.
pub fn synthetic_rules(grants: &Grants, datacenter: &str) -> Vec<String> {
    // Names are checked when written (`valid_identity_name`); one that is not valid grants
    // nothing rather than reach the rules text (it could close the quoted name).
    let in_dc = |dcs: &[String]| dcs.is_empty() || dcs.iter().any(|d| d == datacenter);
    let ok = |name: &str| super::valid_identity_name(name);
    let mut out = Vec::new();
    for si in &grants.service_identities {
        if in_dc(&si.datacenters) && ok(&si.service_name) {
            out.push(render(
                template("builtin/service").expect("a built-in"),
                &si.service_name,
            ));
        }
    }
    for ni in &grants.node_identities {
        if ni.datacenter == datacenter && ok(&ni.node_name) {
            out.push(render(
                template("builtin/node").expect("a built-in"),
                &ni.node_name,
            ));
        }
    }
    for tp in &grants.templated_policies {
        if let Some(t) = template(&tp.template_name) {
            if in_dc(&tp.datacenters) && (!t.needs_name || ok(&tp.name)) {
                out.push(render(t, &tp.name));
            }
        }
    }
    out
}
