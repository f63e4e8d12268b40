"""The C header's structs and constants as ctypes sees them (capi/domainsearch.h), for the tests that call
the C ABI from Python the way an outside team would. Each test asserts struct_size == sizeof after _init()."""
import ctypes as C

DS_OK, DS_ERR_INVALID_ARGUMENT, DS_ERR_IO, DS_ERR_IMAGE_DECODE, DS_ERR_NOT_FOUND, DS_ERR_ALREADY_EXISTS = 0, 1, 2, 7, 10, 11
DS_ERR_OUT_OF_MEMORY, DS_ERR_CONFLICT = 14, 15
DS_RGB8 = 1
DS_KEY_NONE = 2**64 - 1


class PipelineOptions(C.Structure):
    _fields_ = [("struct_size", C.c_uint32), ("config_path", C.c_char_p), ("backbone_manifest", C.c_char_p),
                ("segmenter_manifest", C.c_char_p), ("device", C.c_char_p), ("threads", C.c_int),
                ("localize", C.c_int), ("k", C.c_size_t)]


class Image(C.Structure):
    _fields_ = [("data", C.POINTER(C.c_uint8)), ("width", C.c_int), ("height", C.c_int), ("stride", C.c_size_t),
                ("format", C.c_int)]


class Result(C.Structure):
    _fields_ = [("key", C.c_uint64), ("distance", C.c_float), ("iou", C.c_float), ("score", C.c_float),
                ("label", C.c_char_p), ("category", C.c_char_p), ("source", C.c_char_p)]


def as_image(rgb):
    """A ds_image over a C-contiguous HxWx3 uint8 numpy array (borrowed: keep the array alive)."""
    return Image(rgb.ctypes.data_as(C.POINTER(C.c_uint8)), rgb.shape[1], rgb.shape[0], rgb.strides[0], DS_RGB8)
