// Package models knows the standard whisper.cpp ggml models and fetches them
// into the data directory: a catalogue of their file names, sizes and
// SHA-256 checksums; Pull, which downloads one over HTTP with resume and
// refuses anything whose checksum or file magic is wrong; and the helpers
// the CLI uses to find a model on disk by name or path.
//
// Downloads land in DATA/models/NAME.partial and only become
// DATA/models/ggml-NAME.bin once the whole file has been checked, so a file
// under a final name is always a verified one.
package models

import (
	"fmt"
	"os"
	"regexp"
	"strings"
)

// DefaultBaseURL is where the whisper.cpp project publishes its converted
// models (Hugging Face, repository ggerganov/whisper.cpp).
const DefaultBaseURL = "https://huggingface.co/ggerganov/whisper.cpp/resolve/main/"

// BaseURLEnv names the environment variable that replaces DefaultBaseURL,
// for a local mirror (and for tests).
const BaseURLEnv = "FRONTDESK_MODEL_BASE_URL"

// SettingKey is the store setting holding the absolute path of the model in
// use.
const SettingKey = "whisper.model"

// CatalogRevision is the commit of the Hugging Face repository whose Git LFS
// pointers the sizes and checksums below were taken from. Pulls fetch from
// "main": should a file there ever differ from this revision, Pull refuses it
// rather than use a file nobody vouched for.
const CatalogRevision = "5359861c739e955e79d9a303bcbc70fb988958b1"

// Entry is one model of the catalogue.
type Entry struct {
	Name   string `json:"name"`   // e.g. "base.en", "large-v3-turbo-q5_0"
	Size   int64  `json:"size"`   // bytes
	SHA256 string `json:"sha256"` // lower-case hex
}

// File is the model's file name: ggml-NAME.bin.
func (e Entry) File() string { return FileName(e.Name) }

// English reports whether the model only knows English (the .en models,
// which are more accurate for English than the multilingual ones).
func (e Entry) English() bool { return strings.Contains(e.Name, ".en") }

// Quantization is "q5_0", "q5_1" or "q8_0" for quantized models (smaller and
// faster, a little less accurate), "" for the full f16 ones.
func (e Entry) Quantization() string {
	if i := strings.LastIndex(e.Name, "-q"); i >= 0 {
		return e.Name[i+1:]
	}
	return ""
}

// catalog lists every ggml model the whisper.cpp repository on Hugging Face
// publishes (less the diarization and CoreML/OpenVINO extras), smallest
// family first, the full models before the quantized ones.
//
// Sizes and SHA-256 come from the Git LFS pointers of that repository at
// CatalogRevision, as copied into two independent public projects' model
// tables, which agree on every entry; ten of them were checked again against
// a third source (Nix fetchurl hashes). whisper.cpp's own models/README.md
// only lists SHA-1, so it could not serve.
var catalog = []Entry{
	{Name: "tiny", Size: 77691713, SHA256: "be07e048e1e599ad46341c8d2a135645097a538221678b7acdd1b1919c6e1b21"},
	{Name: "tiny.en", Size: 77704715, SHA256: "921e4cf8686fdd993dcd081a5da5b6c365bfde1162e72b08d75ac75289920b1f"},
	{Name: "base", Size: 147951465, SHA256: "60ed5bc3dd14eea856493d334349b405782ddcaf0028d4b5df4088345fba2efe"},
	{Name: "base.en", Size: 147964211, SHA256: "a03779c86df3323075f5e796cb2ce5029f00ec8869eee3fdfb897afe36c6d002"},
	{Name: "small", Size: 487601967, SHA256: "1be3a9b2063867b937e64e2ec7483364a79917e157fa98c5d94b5c1fffea987b"},
	{Name: "small.en", Size: 487614201, SHA256: "c6138d6d58ecc8322097e0f987c32f1be8bb0a18532a3f88f734d1bbf9c41e5d"},
	{Name: "medium", Size: 1533763059, SHA256: "6c14d5adee5f86394037b4e4e8b59f1673b6cee10e3cf0b11bbdbee79c156208"},
	{Name: "medium.en", Size: 1533774781, SHA256: "cc37e93478338ec7700281a7ac30a10128929eb8f427dda2e865faa8f6da4356"},
	{Name: "large-v1", Size: 3094623691, SHA256: "7d99f41a10525d0206bddadd86760181fa920438b6b33237e3118ff6c83bb53d"},
	{Name: "large-v2", Size: 3094623691, SHA256: "9a423fe4d40c82774b6af34115b8b935f34152246eb19e80e376071d3f999487"},
	{Name: "large-v3", Size: 3095033483, SHA256: "64d182b440b98d5203c4f9bd541544d84c605196c4f7b845dfa11fb23594d1e2"},
	{Name: "large-v3-turbo", Size: 1624555275, SHA256: "1fc70f774d38eb169993ac391eea357ef47c88757ef72ee5943879b7e8e2bc69"},
	{Name: "tiny-q5_1", Size: 32152673, SHA256: "818710568da3ca15689e31a743197b520007872ff9576237bda97bd1b469c3d7"},
	{Name: "tiny-q8_0", Size: 43537433, SHA256: "c2085835d3f50733e2ff6e4b41ae8a2b8d8110461e18821b09a15c40c42d1cca"},
	{Name: "tiny.en-q5_1", Size: 32166155, SHA256: "c77c5766f1cef09b6b7d47f21b546cbddd4157886b3b5d6d4f709e91e66c7c2b"},
	{Name: "tiny.en-q8_0", Size: 43550795, SHA256: "5bc2b3860aa151a4c6e7bb095e1fcce7cf12c7b020ca08dcec0c6d018bb7dd94"},
	{Name: "base-q5_1", Size: 59707625, SHA256: "422f1ae452ade6f30a004d7e5c6a43195e4433bc370bf23fac9cc591f01a8898"},
	{Name: "base-q8_0", Size: 81768585, SHA256: "c577b9a86e7e048a0b7eada054f4dd79a56bbfa911fbdacf900ac5b567cbb7d9"},
	{Name: "base.en-q5_1", Size: 59721011, SHA256: "4baf70dd0d7c4247ba2b81fafd9c01005ac77c2f9ef064e00dcf195d0e2fdd2f"},
	{Name: "base.en-q8_0", Size: 81781811, SHA256: "a4d4a0768075e13cfd7e19df3ae2dbc4a68d37d36a7dad45e8410c9a34f8c87e"},
	{Name: "small-q5_1", Size: 190085487, SHA256: "ae85e4a935d7a567bd102fe55afc16bb595bdb618e11b2fc7591bc08120411bb"},
	{Name: "small-q8_0", Size: 264464607, SHA256: "49c8fb02b65e6049d5fa6c04f81f53b867b5ec9540406812c643f177317f779f"},
	{Name: "small.en-q5_1", Size: 190098681, SHA256: "bfdff4894dcb76bbf647d56263ea2a96645423f1669176f4844a1bf8e478ad30"},
	{Name: "small.en-q8_0", Size: 264477561, SHA256: "67a179f608ea6114bd3fdb9060e762b588a3fb3bd00c4387971be4d177958067"},
	{Name: "medium-q5_0", Size: 539212467, SHA256: "19fea4b380c3a618ec4723c3eef2eb785ffba0d0538cf43f8f235e7b3b34220f"},
	{Name: "medium-q8_0", Size: 823369779, SHA256: "42a1ffcbe4167d224232443396968db4d02d4e8e87e213d3ee2e03095dea6502"},
	{Name: "medium.en-q5_0", Size: 539225533, SHA256: "76733e26ad8fe1c7a5bf7531a9d41917b2adc0f20f2e4f5531688a8c6cd88eb0"},
	{Name: "medium.en-q8_0", Size: 823382461, SHA256: "43fa2cd084de5a04399a896a9a7a786064e221365c01700cea4666005218f11c"},
	{Name: "large-v2-q5_0", Size: 1080732091, SHA256: "3a214837221e4530dbc1fe8d734f302af393eb30bd0ed046042ebf4baf70f6f2"},
	{Name: "large-v2-q8_0", Size: 1656129691, SHA256: "fef54e6d898246a65c8285bfa83bd1807e27fadf54d5d4e81754c47634737e8c"},
	{Name: "large-v3-q5_0", Size: 1081140203, SHA256: "d75795ecff3f83b5faa89d1900604ad8c780abd5739fae406de19f23ecd98ad1"},
	{Name: "large-v3-turbo-q5_0", Size: 574041195, SHA256: "394221709cd5ad1f40c46e6031ca61bce88931e6e088c188294c6d5a55ffa7e2"},
	{Name: "large-v3-turbo-q8_0", Size: 874188075, SHA256: "317eb69c11673c9de1e1f0d459b253999804ec71ac4c23c17ecf5fbe24e259a1"},
}

// Catalog returns the catalogue, in display order.
func Catalog() []Entry { return append([]Entry(nil), catalog...) }

// Lookup finds a catalogue entry by name ("base.en"); it also accepts the
// file name ("ggml-base.en.bin").
func Lookup(name string) (Entry, bool) {
	name = strings.TrimSuffix(strings.TrimPrefix(name, "ggml-"), ".bin")
	for _, e := range catalog {
		if e.Name == name {
			return e, true
		}
	}
	return Entry{}, false
}

// FileName is the file a model called name is stored under: ggml-NAME.bin.
func FileName(name string) string { return "ggml-" + name + ".bin" }

var validName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// CheckName accepts a model name that is safe as part of a file name and a
// URL: letters, digits, '.', '_' and '-', no "..".
func CheckName(name string) error {
	if !validName.MatchString(name) || strings.Contains(name, "..") {
		return fmt.Errorf("model name %q: want letters, digits, '.', '_' and '-', such as base.en", name)
	}
	return nil
}

// BaseURL is the host models are pulled from: $FRONTDESK_MODEL_BASE_URL if
// set, else DefaultBaseURL.
func BaseURL() string {
	if u := strings.TrimSpace(os.Getenv(BaseURLEnv)); u != "" {
		return u
	}
	return DefaultBaseURL
}
