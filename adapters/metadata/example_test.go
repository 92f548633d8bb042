package metadata_test

import (
	"context"
	"fmt"
	"time"

	"github.com/gcftrace/gcftrace/adapters/metadata"
	"github.com/gcftrace/gcftrace/adapters/metadata/metadatatest"
)

func ExampleNew() {
	srv, err := metadatatest.NewServer() // stands in for the metadata server
	if err != nil {
		fmt.Println(err)
		return
	}
	defer srv.Close()
	env := map[string]string{
		"K_SERVICE": "hello", "K_CONFIGURATION": "hello", "FUNCTION_TARGET": "Hello",
		"GCE_METADATA_HOST": srv.Host(),
	}

	// New returns at once; the lookups run in the background.
	src := metadata.New(metadata.Config{}, metadata.WithGetenv(func(k string) string { return env[k] }))
	defer src.Close()

	// Known never waits: the environment variables are there at once.
	known, _ := src.Known()
	fmt.Println(known.Platform, known.Function)

	// Environment waits for the lookups, at most until its context is done.
	ctx, cancel := context.WithTimeout(context.Background(), 250*time.Millisecond)
	defer cancel()
	e, err := src.Environment(ctx)
	fmt.Println(e.ProjectID, e.NumericProjectID, e.Region, e.Zone, err)
	// Output:
	// cloud_functions_gen2 hello
	// demo-project 123456789012 europe-west3 europe-west3-1 <nil>
}
