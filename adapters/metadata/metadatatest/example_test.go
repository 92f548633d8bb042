package metadatatest_test

import (
	"fmt"
	"io"
	"net/http"

	"github.com/gcftrace/gcftrace/adapters/metadata/metadatatest"
)

func ExampleNewServer() {
	srv, err := metadatatest.NewServer()
	if err != nil {
		fmt.Println(err)
		return
	}
	defer srv.Close()

	// A client under test gets GCE_METADATA_HOST=srv.Host().
	req, _ := http.NewRequest(http.MethodGet, srv.URL()+metadatatest.PathRegion, nil)
	req.Header.Set("Metadata-Flavor", "Google")
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := client.Do(req)
	if err != nil {
		fmt.Println(err)
		return
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	fmt.Println(string(body))

	// Faults change at run time: from now on the server refuses connections.
	_ = srv.SetFault(metadatatest.FaultRefuse)
	_, err = client.Get(srv.URL() + metadatatest.PathRegion)
	fmt.Println(err != nil)
	// Output:
	// projects/123456789012/regions/europe-west3
	// true
}
