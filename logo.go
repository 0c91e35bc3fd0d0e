package consentd

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"image"
	"image/gif"
	"image/jpeg"
	"image/png"
	"io"

	"golang.org/x/image/webp"
)

// Limits of a workspace's logo.
const (
	MaxLogoBytes = 256 << 10 // 256 KiB
	MaxLogoSide  = 2048      // pixels, each of width and height
)

// logoDecoders read the header of each image type a logo may have. SVG is
// not among them: it can carry script, and the pages show the logo inline.
var logoDecoders = map[string]struct {
	config func(io.Reader) (image.Config, error)
	decode func(io.Reader) (image.Image, error)
}{
	"image/png":  {png.DecodeConfig, png.Decode},
	"image/jpeg": {jpeg.DecodeConfig, jpeg.Decode},
	"image/gif":  {gif.DecodeConfig, gif.Decode},
	"image/webp": {webp.DecodeConfig, webp.Decode},
}

// CheckLogo checks a logo of the declared contentType: at most
// MaxLogoBytes (ETOOLARGE), a PNG, JPEG, GIF or WebP image
// (EUNSUPPORTEDMEDIATYPE for any other type, SVG included) whose bytes
// decode as that type (EINVALID naming "body") and at most MaxLogoSide
// pixels wide and high. It returns the logo's description without URL.
func CheckLogo(contentType string, data []byte) (*Logo, error) {
	dec, ok := logoDecoders[contentType]
	switch {
	case !ok:
		return nil, FieldErrorf(EUNSUPPORTEDMEDIATYPE, "body", "a logo is image/png, image/jpeg, image/gif or image/webp, not %q (SVG is refused: it can carry script)", contentType)
	case len(data) > MaxLogoBytes:
		return nil, FieldErrorf(ETOOLARGE, "body", "the logo is %d bytes; at most %d (256 KiB)", len(data), MaxLogoBytes)
	case len(data) == 0:
		return nil, FieldErrorf(EINVALID, "body", "the logo is empty")
	}
	// The header first, for the size; then the whole image, so that a
	// truncated or corrupt file is refused now, not shown broken.
	cfg, err := dec.config(bytes.NewReader(data))
	if err != nil {
		return nil, FieldErrorf(EINVALID, "body", "the body is not a %s image", contentType)
	}
	if cfg.Width < 1 || cfg.Height < 1 || cfg.Width > MaxLogoSide || cfg.Height > MaxLogoSide {
		return nil, FieldErrorf(EINVALID, "body", "the logo is %dx%d pixels; at most %dx%d", cfg.Width, cfg.Height, MaxLogoSide, MaxLogoSide)
	}
	if _, err := dec.decode(bytes.NewReader(data)); err != nil {
		return nil, FieldErrorf(EINVALID, "body", "the body is not a whole %s image: %v", contentType, err)
	}
	sum := sha256.Sum256(data)
	return &Logo{ContentType: contentType, Size: len(data), Width: cfg.Width, Height: cfg.Height, SHA256: hex.EncodeToString(sum[:])}, nil
}
