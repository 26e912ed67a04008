// XmlOut: a thin RAII wrapper over libxml2's text writer, for the CAP and
// Atom documents the public side renders (escaping is libxml2's).
#pragma once

#include <libxml/xmlwriter.h>

#include <string>

namespace flatcast {

class XmlOut {
 public:
  XmlOut() : buf_(xmlBufferCreate()), w_(xmlNewTextWriterMemory(buf_, 0)) {
    xmlTextWriterSetIndent(w_, 1);
    xmlTextWriterSetIndentString(w_, BAD_CAST "  ");
    xmlTextWriterStartDocument(w_, nullptr, "UTF-8", nullptr);
  }
  ~XmlOut() {
    if (w_ != nullptr) xmlFreeTextWriter(w_);
    xmlBufferFree(buf_);
  }
  void Start(const char* name, const char* ns = nullptr) {
    if (ns != nullptr) {
      xmlTextWriterStartElementNS(w_, nullptr, BAD_CAST name, BAD_CAST ns);
    } else {
      xmlTextWriterStartElement(w_, BAD_CAST name);
    }
  }
  void End() { xmlTextWriterEndElement(w_); }
  void Attr(const char* name, const std::string& value) {
    xmlTextWriterWriteAttribute(w_, BAD_CAST name, BAD_CAST value.c_str());
  }
  void Text(const char* name, const std::string& value) {
    xmlTextWriterWriteElement(w_, BAD_CAST name, BAD_CAST value.c_str());
  }
  std::string Finish() {
    xmlTextWriterEndDocument(w_);
    xmlFreeTextWriter(w_);
    w_ = nullptr;
    return std::string(reinterpret_cast<const char*>(xmlBufferContent(buf_)),
                       static_cast<size_t>(xmlBufferLength(buf_)));
  }

 private:
  xmlBufferPtr buf_;
  xmlTextWriterPtr w_;
};

}  // namespace flatcast
