// Package metadata is the adapter that tells gcftrace which Google Cloud
// function instance is running: [Source], a ports.EnvironmentSource over the
// process environment, the user's [Config] and the GCE metadata server.
//
// # Sources, in order
//
//  1. [Config]: every field the user sets wins and is never looked up.
//  2. The process environment, at zero cost: FUNCTION_TARGET,
//     FUNCTION_SIGNATURE_TYPE, K_SERVICE, K_REVISION, K_CONFIGURATION,
//     CLOUD_RUN_JOB, CLOUD_RUN_WORKER_POOL, GOOGLE_CLOUD_PROJECT and the
//     1st-gen FUNCTION_NAME, ENTRY_POINT, FUNCTION_REGION, GCP_PROJECT,
//     GCLOUD_PROJECT, FUNCTION_MEMORY_MB. They also give the platform:
//     Cloud Functions 1st or 2nd gen, Cloud Run service or job, or none.
//     The Cloud Run variables are checked first; the 1st-gen ones mean
//     1st gen only when no newer platform variable is set. A Cloud Run
//     worker pool is named but reported as no platform, which
//     ports.Platform lacks. The revision is K_REVISION only: a job's
//     CLOUD_RUN_EXECUTION is a run, not a version.
//  3. The metadata server, for what is still missing: project/project-id,
//     project/numeric-project-id, instance/region, instance/zone and
//     instance/id (region and zone are the last segment of the server's
//     resource path). Requests carry "Metadata-Flavor: Google" and go to
//     GCE_METADATA_HOST when it is set, else to 169.254.169.254, never
//     through a proxy. A 200 answer must carry "Metadata-Flavor: Google"
//     as the server's answers do; bodies are limited to 4 KiB and validated
//     against the shape of each value; answers without that header, HTML
//     pages and garbage are rejected and retried like other failures.
//
// # Cost and timing
//
// [New] never blocks. On a Google Cloud platform it starts every missing
// lookup in the background, all in parallel under one deadline
// ([DefaultTimeout], 1 s); lookups that fail are retried in up to
// [DefaultRetries] later rounds after a doubling, jittered pause from
// [DefaultRetryDelay], so one bad cold start does not leave gaps for the
// instance's life. A 404 means "not defined" and is not retried. When no
// platform variable and no GCE_METADATA_HOST is set, the Source makes no
// request at all and answers ports.ErrNotOnGCP at once.
//
// [Source.Environment] waits for the first round, at most until its
// context is done, and returns a partial Environment with a nil error when
// the context ends first. [Source.Known] returns what is known without
// waiting, and [Source.Ready] is closed when the first round is over: the
// first flush can wait on Ready with a short cap, later ones call Known.
// [Source.Changed] tells when a round has ended, so that a caller holding
// a partial environment learns the moment a retry fills a gap, without
// polling. [Source.Close] stops the background work.
//
// The requests go through a private client of cloud.google.com/go/compute/metadata
// (its process-wide helpers are never used) over a minimal HTTP/1.1
// transport: one connection per request, closed after the answer, with no
// pool and no goroutine of its own. Within a round that client retries 5xx
// and 429 answers after its own short jittered back-off, inside the round's
// deadline; a refused or reset connection ends the attempt at once and is
// left to the next round. A refused connection means that nothing listens
// on the metadata host, so it also ends the round: the other lookups are
// cancelled and retried with it, and Ready is closed at once.
package metadata
