package archiver

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	spb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/anypb"
)

// pythonEnv names the Python interpreter with the archivers package installed; by default the
// project's own, .venv/bin/python at the repository root (scripts/setup.sh creates it).
const pythonEnv = "ARCHIVERS_PYTHON"

// retryableVariant is one way a failed status can carry (or lack) the sidecar's ErrorInfo.
type retryableVariant struct {
	Name      string `json:"name"`
	Domain    string `json:"domain"`    // "" for no ErrorInfo at all
	Retryable string `json:"retryable"` // metadata "retryable"; "-" for none
}

var retryableVariants = []retryableVariant{
	{Name: "no ErrorInfo"},
	{Name: "sidecar says true", Domain: sidecarErrorDomain, Retryable: "true"},
	{Name: "sidecar says false", Domain: sidecarErrorDomain, Retryable: "false"},
	{Name: "sidecar says neither", Domain: sidecarErrorDomain, Retryable: "maybe"},
	{Name: "sidecar says nothing", Domain: sidecarErrorDomain, Retryable: "-"},
	{Name: "foreign domain says true", Domain: "example.com", Retryable: "true"},
	{Name: "foreign domain says false", Domain: "example.com", Retryable: "false"},
}

// pythonRetryable prints, for every gRPC status code and every variant, the answer of
// archivers.wire.status.is_retryable after parsing the trailing metadata the way the sidecar
// and the remote client do.
const pythonRetryable = `
import json, sys
import grpc
from google.protobuf import any_pb2
from google.rpc import error_details_pb2, status_pb2
from archivers.wire.status import STATUS_DETAILS_KEY, error_info, is_retryable

variants = json.loads(sys.argv[1])
table = {}
for code in grpc.StatusCode:
    number = code.value[0]
    for variant in variants:
        metadata = ()
        if variant["domain"]:
            info = error_details_pb2.ErrorInfo(reason="TEST", domain=variant["domain"])
            if variant["retryable"] != "-":
                info.metadata["retryable"] = variant["retryable"]
            detail = any_pb2.Any()
            detail.Pack(info)
            status = status_pb2.Status(code=number, message="m", details=[detail])
            metadata = ((STATUS_DETAILS_KEY, status.SerializeToString()),)
        table[f"{number}/{variant['name']}"] = is_retryable(code, error_info(metadata))
print(json.dumps(table))
`

func projectPython(t *testing.T) string {
	t.Helper()
	if python := os.Getenv(pythonEnv); python != "" {
		return python
	}
	python, err := filepath.Abs(filepath.Join("..", "..", ".venv", "bin", "python"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(python); err != nil {
		t.Fatalf("no project Python at %s (run scripts/setup.sh, or set %s): %v", python, pythonEnv, err)
	}
	return python
}

func goRetryable(t *testing.T, code codes.Code, variant retryableVariant) bool {
	t.Helper()
	st := &spb.Status{Code: int32(code), Message: "m"}
	if variant.Domain != "" {
		info := &errdetails.ErrorInfo{Reason: "TEST", Domain: variant.Domain, Metadata: map[string]string{}}
		if variant.Retryable != "-" {
			info.Metadata["retryable"] = variant.Retryable
		}
		detail, err := anypb.New(info)
		if err != nil {
			t.Fatal(err)
		}
		st.Details = append(st.Details, detail)
	}
	return sidecarRetryable(status.FromProto(st)) // FromProto: WithDetails refuses details on OK
}

// TestRetryableRuleMatchesPython fails when the shim and the Python library (sidecar and remote
// client) disagree on whether any status, with or without the sidecar's ErrorInfo, is retryable.
func TestRetryableRuleMatchesPython(t *testing.T) {
	variants, err := json.Marshal(retryableVariants)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(projectPython(t), "-c", pythonRetryable, string(variants))
	cmd.Dir = filepath.Join("..", "..")
	out, err := cmd.Output()
	if err != nil {
		var stderr []byte
		if exit, ok := err.(*exec.ExitError); ok {
			stderr = exit.Stderr
		}
		t.Fatalf("python table: %v\n%s", err, stderr)
	}
	var python map[string]bool
	if err := json.Unmarshal(out, &python); err != nil {
		t.Fatalf("python table: %v: %s", err, out)
	}
	const codeCount = 17 // OK .. Unauthenticated
	if want := codeCount * len(retryableVariants); len(python) != want {
		t.Fatalf("python table has %d entries, want %d", len(python), want)
	}
	for number := 0; number < codeCount; number++ {
		code := codes.Code(number)
		for _, variant := range retryableVariants {
			key := fmt.Sprintf("%d/%s", number, variant.Name)
			want, ok := python[key]
			if !ok {
				t.Fatalf("python table lacks %s", key)
			}
			if got := goRetryable(t, code, variant); got != want {
				t.Errorf("%s, %s: Go says retryable=%t, Python %t", code, variant.Name, got, want)
			}
		}
	}
}
