//! DNS messages on the wire, through the `domain` crate: decode a query from untrusted bytes,
//! encode a `Plan` with name compression.

use std::str::FromStr;

use domain::base::iana::{Class, Opcode, Rtype};
use domain::base::message_builder::{MessageBuilder, StaticCompressor};
use domain::base::{Message, Name, Ttl};
use domain::rdata::{Aaaa, Cname, Ns, Ptr, Soa, Srv, Txt, A};

use super::plan::{Plan, RData, Rcode, Rec};

/// A decoded question.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Query {
    pub id: u16,
    /// Lower-cased, dot-terminated.
    pub name: String,
    pub qtype: u16,
    pub qclass: u16,
    pub recursion_desired: bool,
    /// The client's EDNS0 UDP size, when it sent an OPT record.
    pub edns_size: Option<u16>,
}

/// Why a packet gets no normal answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// Not even a header, or a response: nothing to answer.
    Drop,
    /// Answer with this code (and no question if it could not be read).
    Reply {
        id: u16,
        rcode: Rcode,
        recursion_desired: bool,
    },
}

/// Decodes a query. Never panics and never allocates in proportion to claimed lengths: the
/// `domain` parser works within the received bytes.
pub fn decode(bytes: &[u8]) -> Result<Query, Refusal> {
    if bytes.len() < 12 {
        return Err(Refusal::Drop);
    }
    let id = u16::from_be_bytes([bytes[0], bytes[1]]);
    let rd = bytes[2] & 0x01 != 0;
    let formerr = Refusal::Reply {
        id,
        rcode: Rcode::FormErr,
        recursion_desired: rd,
    };
    let msg = Message::from_octets(bytes).map_err(|_| formerr.clone())?;
    let header = msg.header();
    if header.qr() {
        return Err(Refusal::Drop);
    }
    if header.opcode() != Opcode::QUERY {
        return Err(Refusal::Reply {
            id,
            rcode: Rcode::NotImp,
            recursion_desired: rd,
        });
    }
    let question = msg.sole_question().map_err(|_| formerr.clone())?;
    let mut name = question.qname().to_string().to_ascii_lowercase();
    if !name.ends_with('.') {
        name.push('.');
    }
    let edns_size = msg.opt().map(|opt| opt.udp_payload_size());
    Ok(Query {
        id,
        name,
        qtype: question.qtype().to_int(),
        qclass: question.qclass().to_int(),
        recursion_desired: rd,
        edns_size,
    })
}

fn name(s: &str) -> Name<Vec<u8>> {
    Name::from_str(s).unwrap_or_else(|_| Name::root_vec())
}

fn push<T>(builder: &mut T, rec: &Rec) -> Result<(), domain::base::message_builder::PushError>
where
    T: RecordPush,
{
    builder.push_rec(rec)
}

/// One section builder of `domain`'s message builder.
trait RecordPush {
    fn push_rec(&mut self, rec: &Rec) -> Result<(), domain::base::message_builder::PushError>;
}

macro_rules! record_push {
    ($builder:ty) => {
        impl RecordPush for $builder {
            fn push_rec(
                &mut self,
                rec: &Rec,
            ) -> Result<(), domain::base::message_builder::PushError> {
                let owner = name(&rec.name);
                let ttl = Ttl::from_secs(rec.ttl);
                match &rec.data {
                    RData::A(ip) => self.push((owner, Class::IN, ttl, A::new(*ip))),
                    RData::Aaaa(ip) => self.push((owner, Class::IN, ttl, Aaaa::new(*ip))),
                    RData::Cname(t) => self.push((owner, Class::IN, ttl, Cname::new(name(t)))),
                    RData::Ns(t) => self.push((owner, Class::IN, ttl, Ns::new(name(t)))),
                    RData::Ptr(t) => self.push((owner, Class::IN, ttl, Ptr::new(name(t)))),
                    RData::Srv {
                        priority,
                        weight,
                        port,
                        target,
                    } => self.push((
                        owner,
                        Class::IN,
                        ttl,
                        Srv::new(*priority, *weight, *port, name(target)),
                    )),
                    RData::Txt(text) => match Txt::<Vec<u8>>::build_from_slice(text) {
                        Ok(txt) => self.push((owner, Class::IN, ttl, txt)),
                        Err(_) => Ok(()), // over-long meta cannot be encoded; skip it
                    },
                    RData::Soa {
                        mname,
                        rname,
                        serial,
                        refresh,
                        retry,
                        expire,
                        minimum,
                    } => self.push((
                        owner,
                        Class::IN,
                        ttl,
                        Soa::new(
                            name(mname),
                            name(rname),
                            (*serial).into(),
                            Ttl::from_secs(*refresh),
                            Ttl::from_secs(*retry),
                            Ttl::from_secs(*expire),
                            Ttl::from_secs(*minimum),
                        ),
                    )),
                }
            }
        }
    };
}

record_push!(domain::base::message_builder::AnswerBuilder<StaticCompressor<Vec<u8>>>);
record_push!(domain::base::message_builder::AuthorityBuilder<StaticCompressor<Vec<u8>>>);
record_push!(domain::base::message_builder::AdditionalBuilder<StaticCompressor<Vec<u8>>>);

fn rcode(r: Rcode) -> domain::base::iana::Rcode {
    use domain::base::iana::Rcode as R;
    match r {
        Rcode::NoError => R::NOERROR,
        Rcode::FormErr => R::FORMERR,
        Rcode::ServFail => R::SERVFAIL,
        Rcode::NxDomain => R::NXDOMAIN,
        Rcode::NotImp => R::NOTIMP,
        Rcode::Refused => R::REFUSED,
    }
}

/// Encodes the answer to `q` planned in `plan`.
pub fn encode(q: &Query, plan: &Plan, recursion_available: bool) -> Vec<u8> {
    let mut builder =
        MessageBuilder::from_target(StaticCompressor::new(Vec::new())).expect("empty target");
    {
        let h = builder.header_mut();
        h.set_id(q.id);
        h.set_qr(true);
        h.set_opcode(Opcode::QUERY);
        h.set_aa(plan.rcode != Rcode::Refused);
        h.set_rd(q.recursion_desired);
        h.set_ra(recursion_available);
        h.set_tc(plan.truncated);
        h.set_rcode(rcode(plan.rcode));
    }
    let mut question = builder.question();
    let _ = question.push((
        name(&q.name),
        Rtype::from_int(q.qtype),
        Class::from_int(q.qclass),
    ));
    let mut answer = question.answer();
    for (rec, _) in &plan.answers {
        let _ = push(&mut answer, rec);
    }
    let mut authority = answer.authority();
    for rec in &plan.authority {
        let _ = push(&mut authority, rec);
    }
    let mut additional = authority.additional();
    for rec in plan
        .answers
        .iter()
        .flat_map(|(_, extras)| extras)
        .chain(&plan.extra)
    {
        let _ = push(&mut additional, rec);
    }
    if let Some(size) = q.edns_size {
        let _ = additional.opt(|opt| {
            opt.set_udp_payload_size(size.max(512));
            Ok(())
        });
    }
    additional.finish().into_target()
}

/// The answer to a packet that could not be read as a query.
pub fn encode_refusal(id: u16, rcode_value: Rcode, recursion_desired: bool) -> Vec<u8> {
    let mut builder = MessageBuilder::new_vec();
    let h = builder.header_mut();
    h.set_id(id);
    h.set_qr(true);
    h.set_rd(recursion_desired);
    h.set_rcode(rcode(rcode_value));
    builder.finish()
}
