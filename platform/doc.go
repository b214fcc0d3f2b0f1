// Package platform groups the infrastructure apoyo runs on, apart from
// the domain and the application: private PostgreSQL clusters and pools
// (pgcluster, pgdb), the schema's migrations, the embedded Temporal server,
// the payload codec that encrypts every Temporal payload, and the local
// development stack that starts them all (devstack). Nothing here knows
// about programmes, cases or money; the adapters and cmd/apoyo use it.
package platform
