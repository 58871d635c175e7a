// Package pki makes the certificates of Flotilla's mutual TLS: a
// certificate authority (CA), and leaf certificates it signs for servers,
// agents and the CLI (or any other names a caller asks for, such as one
// replica's), and reads them back from PEM.
//
// Every key is ECDSA P-256. Nothing here reads the clock: callers pass
// `now`, so that a certificate's validity is decided by whoever holds the
// clock (the CLI passes time.Now, a server its injected clock, a test a
// fixed instant). It does no I/O but reading and writing the PEM files it
// is asked to (files.go); it imports nothing of Flotilla's.
//
//	ca, _ := pki.NewCA(pki.CAOptions{}, now)
//	leaf, _ := ca.Issue(pki.ForRole(pki.RoleServer, []string{"s1.example"}, []netip.Addr{ip}, 0), now)
//	leaf.CertPEM, leaf.KeyPEM // tls.X509KeyPair takes them
package pki
