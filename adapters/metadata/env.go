package metadata

import (
	"strconv"

	"github.com/gcftrace/gcftrace/ports"
)

// Environment variables the Source reads.
const (
	EnvMetadataHost = "GCE_METADATA_HOST" // host[:port] of the metadata server

	// Set by current runtimes (Cloud Functions 1st gen on newer runtimes,
	// 2nd gen, Cloud Run).
	EnvFunctionTarget = "FUNCTION_TARGET"
	EnvSignatureType  = "FUNCTION_SIGNATURE_TYPE"
	EnvService        = "K_SERVICE"
	EnvRevision       = "K_REVISION"
	EnvConfiguration  = "K_CONFIGURATION" // Cloud Run contract: 2nd gen and Cloud Run
	EnvJob            = "CLOUD_RUN_JOB"
	EnvExecution      = "CLOUD_RUN_EXECUTION"

	// Set by 1st gen legacy runtimes, or by the user.
	EnvFunctionName   = "FUNCTION_NAME"
	EnvEntryPoint     = "ENTRY_POINT"
	EnvFunctionRegion = "FUNCTION_REGION"
	EnvMemoryMB       = "FUNCTION_MEMORY_MB"
	EnvGCPProject     = "GCP_PROJECT"
	EnvGCloudProject  = "GCLOUD_PROJECT"
	EnvGoogleProject  = "GOOGLE_CLOUD_PROJECT"
)

// defaultMetadataHost is where the metadata server answers on Google Cloud.
const defaultMetadataHost = "169.254.169.254"

// base is what the Source knows at zero network cost: the user's Config
// over the process environment.
func base(cfg Config, getenv func(string) string) ports.Environment {
	user := ports.Environment{
		ProjectID: cfg.ProjectID,
		Region:    cfg.Region,
		Function:  cfg.Function,
		MemoryMB:  cfg.MemoryMB,
	}
	return user.Merge(fromEnv(getenv))
}

// fromEnv reads what the platform puts into the process environment.
func fromEnv(getenv func(string) string) ports.Environment {
	first := func(keys ...string) string {
		for _, k := range keys {
			if v := getenv(k); v != "" {
				return v
			}
		}
		return ""
	}
	env := ports.Environment{
		Platform:      platform(getenv),
		ProjectID:     first(EnvGoogleProject, EnvGCPProject, EnvGCloudProject),
		Region:        getenv(EnvFunctionRegion),
		Function:      first(EnvService, EnvFunctionName, EnvJob),
		Revision:      first(EnvRevision, EnvExecution),
		Configuration: getenv(EnvConfiguration),
		EntryPoint:    first(EnvFunctionTarget, EnvEntryPoint),
		SignatureType: getenv(EnvSignatureType),
	}
	if mb, err := strconv.Atoi(getenv(EnvMemoryMB)); err == nil && mb > 0 {
		env.MemoryMB = mb
	}
	return env
}

// platform detects the product from the variables each one sets, functions
// first because 2nd gen also sets the Cloud Run variables:
//
//   - 1st gen, legacy runtimes: FUNCTION_NAME or ENTRY_POINT, or
//     FUNCTION_REGION without K_SERVICE;
//   - 1st gen, newer runtimes: FUNCTION_TARGET and K_SERVICE without
//     K_CONFIGURATION (the Cloud Run contract variable);
//   - 2nd gen: FUNCTION_TARGET, K_SERVICE and K_CONFIGURATION;
//   - Cloud Run service: K_SERVICE and K_CONFIGURATION;
//   - Cloud Run job: CLOUD_RUN_JOB.
//
// FUNCTION_TARGET alone is a local functions-framework run, not GCP.
func platform(getenv func(string) string) ports.Platform {
	set := func(k string) bool { return getenv(k) != "" }
	switch {
	case set(EnvFunctionName) || set(EnvEntryPoint) || set(EnvFunctionRegion) && !set(EnvService):
		return ports.PlatformFunctionsGen1
	case set(EnvFunctionTarget) && set(EnvService) && set(EnvConfiguration):
		return ports.PlatformFunctionsGen2
	case set(EnvFunctionTarget) && set(EnvService):
		return ports.PlatformFunctionsGen1
	case set(EnvConfiguration) && set(EnvService):
		return ports.PlatformCloudRunService
	case set(EnvJob):
		return ports.PlatformCloudRunJob
	}
	return ports.PlatformUnknown
}
