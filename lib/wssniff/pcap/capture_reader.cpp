#include "wssniff/pcap/capture_reader.hpp"

#include <pcap/pcap.h>

namespace wssniff::pcap {

struct capture_reader::handle {
    pcap_t* pcap = nullptr;
};

capture_reader::capture_reader(const std::string& path) : path_(path) {
    char error[PCAP_ERRBUF_SIZE] = {};
    // Nanosecond precision: µs captures are scaled up, ns ones keep their digits.
    pcap_t* p =
        pcap_open_offline_with_tstamp_precision(path.c_str(), PCAP_TSTAMP_PRECISION_NANO, error);
    if (p == nullptr) {
        const std::string shown = path == "-" ? "stdin" : "'" + path + "'";
        throw capture_error("cannot read capture " + shown + ": " + error);
    }
    handle_ = new handle{p};
    link_type_ = pcap_datalink(p);
}

capture_reader::~capture_reader() {
    if (handle_ != nullptr) {
        pcap_close(handle_->pcap);
        delete handle_;
    }
}

std::string capture_reader::link_name() const {
    const char* name = pcap_datalink_val_to_name(link_type_);
    return name != nullptr ? name : "DLT " + std::to_string(link_type_);
}

bool capture_reader::next(packet& out) {
    pcap_pkthdr* header = nullptr;
    const u_char* data = nullptr;
    const int status = pcap_next_ex(handle_->pcap, &header, &data);
    if (status == 1) {
        out.data = bytes_view(data, header->caplen);
        out.wire_length = header->len;
        // tv_usec holds nanoseconds at PCAP_TSTAMP_PRECISION_NANO.
        out.ts = tcp::clock_time(std::chrono::duration_cast<tcp::clock_time::duration>(
            std::chrono::seconds(header->ts.tv_sec) +
            std::chrono::nanoseconds(header->ts.tv_usec)));
        return true;
    }
    if (status == PCAP_ERROR_BREAK) {
        return false;
    }
    const std::string shown = path_ == "-" ? "stdin" : "'" + path_ + "'";
    throw capture_error("cannot read capture " + shown + ": " + pcap_geterr(handle_->pcap));
}

} // namespace wssniff::pcap
