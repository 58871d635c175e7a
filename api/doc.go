// Package api is Flotilla's public schema and the code that guards it.
//
// It owns:
//
//   - the objects users, scripts and the cluster exchange: the service spec
//     (ServiceSpec and its blocks), Node, Allocation, Evaluation, Revision,
//     Event and the request and response bodies of the HTTP API;
//   - the value types of documents (CPU, Memory, Duration, Percent,
//     IntOrPercent, PortRef, Pause, Constraint) and their syntax;
//   - configs and secrets (files.go): their documents (kind: Config,
//     Secret), what lists show of them (never a secret's values) and what
//     agents mount; DecodeDocuments reads every kind apply takes;
//   - strict decoding (DecodeServices, DecodeServiceJSON, DecodeStrict):
//     unknown fields, wrong types and duplicate keys are refused with a
//     FieldError that names the field ("spec.ports[0].port");
//   - defaults (ServiceSpec.SetDefaults, the one place they are applied,
//     but for autoscale.min left out of a document, which decoding fills:
//     see Autoscale.UnmarshalJSON) and validation (ServiceSpec.Validate,
//     NodeRegistration.Validate);
//   - the HTTP handlers, over a small backend interface this package
//     declares, and the Go client that speaks to them.
//
// Every other Flotilla package may import api; api imports nothing of
// ours, so that the schema never depends on how the cluster is built. It
// does no I/O beyond the HTTP handlers and client.
package api
