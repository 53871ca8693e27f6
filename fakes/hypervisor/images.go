package hypervisor

import (
	"hash/fnv"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"

	"github.com/vmtestbed/vmtestbed/fakes/hypervisor/page"
	hv "github.com/vmtestbed/vmtestbed/proto/hypervisor/v1"
)

// image is a catalogue entry: built in, or added by PullImage.
type image struct {
	seq uint64
	pb  *hv.Image
}

func (im *image) key() page.Key { return page.Key{Seq: im.seq, ID: im.pb.Id} }

// catalogue is the built-in image list every Server starts with.
var catalogue = []struct {
	name string
	tags []string
	typ  hv.InstanceType
	size int64
}{
	{"ubuntu", []string{"22.04", "latest"}, hv.InstanceType_INSTANCE_TYPE_VM, 2 << 30},
	{"debian", []string{"12", "latest"}, hv.InstanceType_INSTANCE_TYPE_VM, 1 << 30},
	{"alpine", []string{"3.20", "latest"}, hv.InstanceType_INSTANCE_TYPE_CONTAINER, 8 << 20},
	{"nginx", []string{"1.27", "latest"}, hv.InstanceType_INSTANCE_TYPE_CONTAINER, 70 << 20},
	{"firecracker-minimal", []string{"1.0", "latest"}, hv.InstanceType_INSTANCE_TYPE_MICROVM, 64 << 20},
}

// loadCatalogue registers the built-in images. Called from New.
func (s *Server) loadCatalogue() {
	for _, c := range catalogue {
		s.addImage(c.name, c.tags, c.typ, c.size)
	}
}

// addImage registers (or, for a known name, adds tags to) an image. Call
// with s.mu held (or before the Server is shared).
func (s *Server) addImage(name string, tags []string, typ hv.InstanceType, size int64) *image {
	for _, im := range s.images {
		if im.pb.Name == name && im.pb.Type == typ {
			for _, t := range tags {
				if !containsString(im.pb.Tags, t) {
					im.pb.Tags = append(im.pb.Tags, t)
				}
			}
			return im
		}
	}
	im := &image{seq: s.nextSeq(), pb: &hv.Image{
		Id: s.newID("img"), Name: name, Tags: tags, SizeBytes: size, Type: typ, CreatedAt: timestamp(s.now()),
	}}
	s.images[im.pb.Id] = im
	return im
}

// findImage resolves "name", "name:tag" or an image id. Call with s.mu held.
func (s *Server) findImage(ref string) *image {
	if im, ok := s.images[ref]; ok {
		return im
	}
	name, tag, hasTag := cutTag(ref)
	if !hasTag {
		tag = "latest"
	}
	for _, im := range s.images {
		if im.pb.Name == name && containsString(im.pb.Tags, tag) {
			return im
		}
	}
	return nil
}

func (im *image) snapshot() *hv.Image { return proto.Clone(im.pb).(*hv.Image) }

func containsString(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// refSize is a deterministic fake download size for a pulled image.
func refSize(ref string) int64 {
	h := fnv.New64a()
	h.Write([]byte(ref))
	return int64(16<<20) + int64(h.Sum64()%(240<<20))
}

// imageRoom checks that adding name:tag keeps the catalogue within
// Limits.MaxImages images and Limits.MaxLabels tags per image
// (ResourceExhausted). Call with s.mu held.
func (s *Server) imageRoom(name, tag string, typ hv.InstanceType) error {
	for _, im := range s.images {
		if im.pb.Name == name && im.pb.Type == typ {
			if !containsString(im.pb.Tags, tag) && len(im.pb.Tags) >= s.opts.Limits.MaxLabels {
				return errf(codes.ResourceExhausted, "image %s has %d tags, the limit (Limits.MaxLabels)", name, len(im.pb.Tags))
			}
			return nil
		}
	}
	if len(s.images) >= s.opts.Limits.MaxImages {
		return errf(codes.ResourceExhausted, "%d images are in the catalogue, the limit (Limits.MaxImages)", len(s.images))
	}
	return nil
}
