// flatcast-public: the public side (docs/PUBLIC.md). It receives what the
// broker released over an authenticated one-way link, keeps its own copy,
// and serves it over HTTP: lists, Atom, CAP, a page per region, live events
// and the release keys. Several may run, each with its own key and copy.
#include <CLI/CLI.hpp>
#include <spdlog/spdlog.h>

#include <chrono>
#include <iostream>
#include <mutex>
#include <thread>

#include "flatcast/curve.h"
#include "flatcast/feed/copy_store.h"
#include "flatcast/feed/link.h"
#include "flatcast/feed/server.h"
#include "flatcast/feed/site.h"
#include "flatcast/file_util.h"
#include "flatcast/program.h"
#include "flatcast/registry.h"

namespace {

using flatcast::Status;

int Fail(const Status& st) {
  std::cerr << "flatcast-public: " << st.message() << "\n";
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  namespace feed = flatcast::feed;
  CLI::App app{"flatcast public server: the released directives for the public, by region, "
               "live and signed"};
  std::vector<std::string> brokers;
  std::string data_dir, listen = "127.0.0.1:7780", listen_file, registry_path =
      "configs/registry/guizhou-52.tsv";
  std::string curve_key, broker_key, name = "flatcast-public", log_format, log_level = "info";
  feed::FeedServerOptions server_options;
  app.set_config("--config", "",
                 "a TOML file of these options by their long names (data-dir = \"...\", "
                 "broker = [\"...\"]), e.g. /etc/flatcast/public.toml; flags override it");
  app.allow_config_extras(CLI::config_extras_mode::error);
  app.add_option("-b,--broker", brokers,
                 "the broker's client endpoint, e.g. tcp://10.0.0.5:7700 (repeat for a pair's two)")
      ->required();
  app.add_option("--data-dir", data_dir, "this server's own copy (RocksDB)")->required();
  app.add_option("--listen", listen, "HTTP HOST:PORT; port 0 picks one")->capture_default_str();
  app.add_option("--listen-file", listen_file, "write the http://host:port here once it listens");
  app.add_option("--registry", registry_path, "the registry of region codes")
      ->capture_default_str();
  app.add_option("--curve-key", curve_key,
                 "this server's secret CURVE key file (a key of the public role)");
  app.add_option("--broker-key", broker_key, "the broker's public CURVE key file");
  app.add_option("--name", name, "this server's name in the broker's log")->capture_default_str();
  app.add_option("--max-connections", server_options.max_connections,
                 "HTTP connections open at once, at most")
      ->capture_default_str()
      ->check(CLI::Range(size_t{1}, size_t{1} << 20));
  app.add_option("--max-subscribers", server_options.max_subscribers,
                 "event streams (/public/events) at once, at most")
      ->capture_default_str()
      ->check(CLI::Range(size_t{0}, size_t{1} << 20));
  app.add_option("--log-level", log_level, "trace, debug, info, warn or error")
      ->capture_default_str();
  app.add_option("--log-format", log_format, "text, journal or json")
      ->check(CLI::IsMember({"text", "journal", "json"}));
  CLI11_PARSE(app, argc, argv);
  server_options.endpoint = listen;

  flatcast::LogToStderr("flatcast-public", log_level, log_format);
  const auto& stop = flatcast::StopOnSignals();

  auto registry = flatcast::Registry::Load(registry_path);
  if (!registry.ok()) return Fail(registry.status().WithContext("registry"));
  auto shared_registry = std::make_shared<const flatcast::Registry>(std::move(registry).value());
  auto curve = flatcast::LoadCurveClientKeys(curve_key, broker_key);
  if (!curve.ok()) return Fail(curve.status());
  auto store = feed::CopyStore::Open(data_dir);
  if (!store.ok()) return Fail(store.status());
  // Attached documents are kept beside the copy, under their SHA-256.
  const std::string documents_dir = data_dir + "/attachments";
  auto site = feed::Site::Build((*store)->Documents(), (*store)->keys(), shared_registry, nullptr, documents_dir);
  if (!site.ok()) return Fail(site.status().WithContext("the stored copy"));
  std::shared_ptr<const feed::Site> current = *site;
  auto server = feed::FeedServer::Start(server_options, current);
  if (!server.ok()) return Fail(server.status());
  if (!listen_file.empty()) {
    if (Status st = flatcast::WriteFileAtomically(listen_file, (*server)->url() + "\n"); !st.ok()) {
      return Fail(st);
    }
  }

  // The link's thread stores and rebuilds; the HTTP thread answers from the
  // site it was last given.
  std::mutex mu;
  auto rebuild = [&]() -> Status {
    auto next = feed::Site::Build((*store)->Documents(), (*store)->keys(), shared_registry,
                                  current.get(), documents_dir);
    if (!next.ok()) return next.status();
    current = *next;
    (*server)->Publish(current);
    return Status::Ok();
  };
  spdlog::info("serving {} released directives on {} (registry {}, {} units); fed by {}",
               current->size(), (*server)->url(), registry_path, shared_registry->size(),
               fmt::join(brokers, ", "));
  feed::PublicLinkOptions link_options{brokers, *curve, name};
  link_options.documents_dir = documents_dir;
  for (const flatcast::v1::PublicDocument& doc : (*store)->Documents()) {
    link_options.documents.insert(link_options.documents.end(), doc.attachments().begin(), doc.attachments().end());
  }
  auto link = feed::PublicLink::Start(
      link_options, (*store)->cursor(),
      [&](const std::vector<flatcast::v1::PublicDocument>& docs, uint64_t last) {
        std::lock_guard lock(mu);
        FLATCAST_RETURN_IF_ERROR((*store)->Apply(docs, last));
        return rebuild();
      },
      [&](const std::vector<flatcast::v1::ReleaseKey>& keys) {
        std::lock_guard lock(mu);
        FLATCAST_RETURN_IF_ERROR((*store)->SetKeys(keys));
        return rebuild();
      });
  if (!link.ok()) return Fail(link.status());
  flatcast::NotifyReady("serving on " + (*server)->url());
  while (!stop.load()) std::this_thread::sleep_for(std::chrono::milliseconds(200));
  flatcast::NotifyStopping();
  spdlog::info("stopping");
  link->reset();
  return 0;
}
