#include "domainsearch/error.hpp"

#include "domainsearch/version.hpp"

namespace domainsearch {

const char* status_name(Status status) noexcept {
  switch (status) {
    case Status::Ok: return "Ok";
    case Status::InvalidArgument: return "InvalidArgument";
    case Status::Io: return "Io";
    case Status::FormatVersion: return "FormatVersion";
    case Status::Corrupt: return "Corrupt";
    case Status::ModelMismatch: return "ModelMismatch";
    case Status::DeviceUnavailable: return "DeviceUnavailable";
    case Status::ImageDecode: return "ImageDecode";
    case Status::ImageTooSmall: return "ImageTooSmall";
    case Status::ImageTooLarge: return "ImageTooLarge";
    case Status::NotFound: return "NotFound";
    case Status::AlreadyExists: return "AlreadyExists";
    case Status::Cancelled: return "Cancelled";
    case Status::Internal: return "Internal";
    case Status::OutOfMemory: return "OutOfMemory";
    case Status::Conflict: return "Conflict";
  }
  return "Unknown";
}

Error::Error(Status status, const std::string& message) : std::runtime_error(message), status_(status) {}

const char* version_string() noexcept { return DS_VERSION_STRING; }

}  // namespace domainsearch
