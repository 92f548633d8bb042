// Package metadata is the adapter that tells gcftrace which Google Cloud
// function instance is running: a ports.EnvironmentSource.
//
// It reads the process environment first (FUNCTION_TARGET, K_SERVICE,
// K_REVISION, K_CONFIGURATION, CLOUD_RUN_JOB, GOOGLE_CLOUD_PROJECT and the
// 1st-gen FUNCTION_NAME, FUNCTION_REGION, GCP_PROJECT, GCLOUD_PROJECT,
// FUNCTION_MEMORY_MB, ENTRY_POINT); values set in [Config] win over
// everything.
package metadata
