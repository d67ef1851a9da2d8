// Copyright (c) Safeguard authors. Licensed under the Apache License 2.0.
//
// The only translation unit that includes Boost.Beast (see http_server.h).
// Beast over Asio was chosen over a hand-written server for its HTTP/1.1
// parser (chunked bodies, limits, pipelining rules) and over cpp-httplib for
// asynchronous I/O: idle keep-alive connections cost no thread.

#include "http_server.h"

#include <algorithm>
#include <atomic>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <condition_variable>
#include <list>
#include <mutex>
#include <optional>
#include <thread>

namespace safeguard::server {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
namespace ssl = boost::asio::ssl;
using tcp = net::ip::tcp;

std::string_view HttpRequest::Header(std::string_view name) const {
  for (const auto& [k, v] : headers) {
    if (k == name) return v;
  }
  return {};
}

namespace {

constexpr size_t kHeaderLimit = 16 * 1024;

// Whether ec is one of Beast's HTTP parse errors (a malformed request).
bool IsHttpParseError(const beast::error_code& ec) {
  return ec.category() == beast::error_code(http::error::bad_method).category() &&
         ec != http::error::end_of_stream && ec != http::error::partial_message;
}

std::string Lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return std::tolower(c); });
  return out;
}

std::string ErrorBody(std::string_view code, std::string_view message) {
  // Fixed texts only: no request data is echoed here.
  return std::string(R"({"error":{"code":")") + std::string(code) + R"(","message":")" +
         std::string(message) + "\"}}";
}

class ServerImpl;

// What the server needs of a connection to shut it down.
class SessionBase {
 public:
  virtual ~SessionBase() = default;
  // Closes the connection if no request is in progress; otherwise the
  // connection closes after answering it.
  virtual void CloseIfIdle() = 0;
};

template <class Stream>
class Session : public SessionBase, public std::enable_shared_from_this<Session<Stream>> {
 public:
  template <class... Args>
  Session(ServerImpl* server, Args&&... args);
  ~Session() override;

  void Run();
  void CloseIfIdle() override;

 private:
  void ReadHeader();
  void OnHeader(beast::error_code ec);
  void OnContinue(beast::error_code ec);
  void ReadBody();
  void OnBody(beast::error_code ec);
  void Refuse(int status, std::string_view code, std::string_view message);
  void Write(HttpResponse response, bool keep_alive);
  void OnWrite(bool keep_alive, beast::error_code ec);
  void Close();

  ServerImpl* const server_;
  Stream stream_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  std::shared_ptr<http::response<http::string_body>> response_;
  bool busy_ = false;  // a request's header has arrived and it is not yet answered
  bool closed_ = false;
};

class ServerImpl final : public HttpServer {
 public:
  ServerImpl(const HttpServerOptions& options, HttpHandler handler)
      : options_(options),
        handler_(std::move(handler)),
        acceptor_(net::make_strand(ioc_)),
        tls_ctx_(ssl::context::tls_server) {}

  ~ServerImpl() override { Shutdown(std::chrono::milliseconds(2000)); }

  Status Init() {
    if (!options_.tls_cert_file.empty() || !options_.tls_key_file.empty()) {
      if (options_.tls_cert_file.empty() || options_.tls_key_file.empty()) {
        return Status::InvalidArgument("TLS needs both a certificate file and a key file");
      }
      beast::error_code ec;
      tls_ctx_.set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                           ssl::context::no_sslv3 | ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1);
      tls_ctx_.use_certificate_chain_file(options_.tls_cert_file, ec);
      if (ec)
        return Status::InvalidArgument("TLS certificate " + options_.tls_cert_file + ": " + ec.message());
      tls_ctx_.use_private_key_file(options_.tls_key_file, ssl::context::pem, ec);
      if (ec) return Status::InvalidArgument("TLS key " + options_.tls_key_file + ": " + ec.message());
      tls_ = true;
    }
    beast::error_code ec;
    const net::ip::address address = net::ip::make_address(options_.address, ec);
    if (ec) return Status::InvalidArgument("listen address " + options_.address + " is not an IP address");
    const tcp::endpoint endpoint(address, options_.port);
    const std::string where = options_.address + ":" + std::to_string(options_.port);
    acceptor_.open(endpoint.protocol(), ec);
    if (!ec) acceptor_.set_option(net::socket_base::reuse_address(true), ec);
    if (!ec) acceptor_.bind(endpoint, ec);
    if (ec) return Status::IoError("cannot listen on " + where + ": " + ec.message());
    acceptor_.listen(net::socket_base::max_listen_connections, ec);
    if (ec) return Status::IoError("cannot listen on " + where + ": " + ec.message());
    port_ = acceptor_.local_endpoint().port();
    Accept();
    for (int i = 0; i < std::max(1, options_.threads); ++i) {
      threads_.emplace_back([this] {
        for (;;) {
          try {
            ioc_.run();
            return;
          } catch (const std::exception&) {
            // A handler threw past the session's own catch: keep serving.
          }
        }
      });
    }
    return Status::Ok();
  }

  void Shutdown(std::chrono::milliseconds grace) override {
    std::lock_guard<std::mutex> once(shutdown_mu_);
    if (shut_down_) return;
    shut_down_ = true;
    stopping_.store(true);
    net::post(acceptor_.get_executor(), [this] {
      beast::error_code ec;
      acceptor_.close(ec);
    });
    // Hold the sessions outside the lock: the last reference to one may be
    // dropped here, and its destructor takes sessions_mu_ (Unregister).
    std::vector<std::shared_ptr<SessionBase>> live;
    {
      std::lock_guard<std::mutex> lock(sessions_mu_);
      for (auto& weak : sessions_) {
        if (auto s = weak.lock()) live.push_back(std::move(s));
      }
    }
    for (auto& s : live) s->CloseIfIdle();
    live.clear();
    {
      std::unique_lock<std::mutex> lock(sessions_mu_);
      sessions_cv_.wait_for(lock, grace, [this] { return active_ == 0; });
    }
    ioc_.stop();
    for (auto& t : threads_) {
      if (t.joinable()) t.join();
    }
  }

  uint16_t port() const override { return port_; }
  bool tls() const override { return tls_; }

  bool stopping() const { return stopping_.load(); }
  const HttpServerOptions& options() const { return options_; }
  ssl::context& tls_context() { return tls_ctx_; }

  void Refused(int status) {
    if (options_.on_refused) options_.on_refused(status);
  }

  void Handle(const HttpRequest& request, HttpResponse* response) {
    try {
      handler_(request, response);
    } catch (const std::exception&) {
      *response = HttpResponse();
      response->status = 500;
      response->body = ErrorBody("internal", "the server failed to handle the request; see its log");
    }
  }

  void Register(const std::shared_ptr<SessionBase>& s) {
    std::lock_guard<std::mutex> lock(sessions_mu_);
    ++active_;
    sessions_.remove_if([](const std::weak_ptr<SessionBase>& w) { return w.expired(); });
    sessions_.push_back(s);
  }
  void Unregister() {
    std::lock_guard<std::mutex> lock(sessions_mu_);
    --active_;
    if (active_ == 0) sessions_cv_.notify_all();
  }

 private:
  void Accept() {
    acceptor_.async_accept(net::make_strand(ioc_), [this](beast::error_code ec, tcp::socket socket) {
      if (ec) {
        if (!acceptor_.is_open() || stopping()) return;
        Accept();  // e.g. too many open files: keep accepting
        return;
      }
      if (stopping()) return;
      // Answers are small; do not let Nagle hold their last segment back.
      beast::error_code ignored;
      socket.set_option(tcp::no_delay(true), ignored);
      std::shared_ptr<SessionBase> session;
      if (tls_) {
        auto s = std::make_shared<Session<beast::ssl_stream<beast::tcp_stream>>>(this, std::move(socket),
                                                                                 tls_ctx_);
        session = s;
        Register(session);
        s->Run();
      } else {
        auto s = std::make_shared<Session<beast::tcp_stream>>(this, std::move(socket));
        session = s;
        Register(session);
        s->Run();
      }
      Accept();
    });
  }

  const HttpServerOptions options_;
  const HttpHandler handler_;
  // The acceptor runs on a strand of its own: its accept handler and the
  // close that Shutdown posts never run at the same time.
  // Declared before the io_context: sessions still queued in it when it is
  // destroyed unregister themselves here.
  std::mutex sessions_mu_;
  std::condition_variable sessions_cv_;
  std::list<std::weak_ptr<SessionBase>> sessions_;  // guarded by sessions_mu_
  int active_ = 0;                                  // guarded by sessions_mu_
  net::io_context ioc_;
  tcp::acceptor acceptor_;
  ssl::context tls_ctx_;
  bool tls_ = false;
  uint16_t port_ = 0;
  std::vector<std::thread> threads_;
  std::atomic<bool> stopping_{false};

  std::mutex shutdown_mu_;
  bool shut_down_ = false;  // guarded by shutdown_mu_
};

// ---- Session ------------------------------------------------------------------

template <class Stream>
template <class... Args>
Session<Stream>::Session(ServerImpl* server, Args&&... args)
    : server_(server), stream_(std::forward<Args>(args)...) {}

template <class Stream>
Session<Stream>::~Session() {
  server_->Unregister();
}

template <class Stream>
void Session<Stream>::Run() {
  // Start on the connection's strand, so every step of it is serialised.
  net::dispatch(stream_.get_executor(), [self = this->shared_from_this()] {
    if constexpr (std::is_same_v<Stream, beast::tcp_stream>) {
      self->ReadHeader();
    } else {
      beast::get_lowest_layer(self->stream_).expires_after(self->server_->options().request_timeout);
      self->stream_.async_handshake(ssl::stream_base::server, [self](beast::error_code ec) {
        if (ec) return self->Close();
        self->ReadHeader();
      });
    }
  });
}

template <class Stream>
void Session<Stream>::CloseIfIdle() {
  net::post(stream_.get_executor(), [self = this->shared_from_this()] {
    if (!self->busy_) self->Close();
  });
}

template <class Stream>
void Session<Stream>::ReadHeader() {
  busy_ = false;
  if (server_->stopping()) return Close();
  parser_.emplace();
  parser_->header_limit(kHeaderLimit);
  parser_->body_limit(server_->options().max_body_bytes);
  // Idle until the first byte: the idle timeout; the header then must
  // arrive within the request timeout (one deadline covers both: the
  // shorter of the two is not worth a second timer).
  beast::get_lowest_layer(stream_).expires_after(server_->options().idle_timeout);
  http::async_read_header(
      stream_, buffer_, *parser_,
      [self = this->shared_from_this()](beast::error_code ec, size_t) { self->OnHeader(ec); });
}

template <class Stream>
void Session<Stream>::OnHeader(beast::error_code ec) {
  if (ec == http::error::header_limit) {
    server_->Refused(431);
    return Refuse(431, "invalid_argument", "request headers larger than 16 KiB");
  }
  if (ec == http::error::body_limit) {
    server_->Refused(413);
    return Refuse(413, "too_large", "request body above the server's limit (--max-body)");
  }
  if (ec == beast::error::timeout && buffer_.size() > 0) {
    // Part of a request, then nothing until the deadline: the stream has
    // already closed the socket, so there is no one to send a 408 to.
    server_->Refused(408);
    return Close();
  }
  if (ec) {
    // end of stream, reset, timeout while idle, or a malformed request line
    if (IsHttpParseError(ec)) {
      server_->Refused(400);
      return Refuse(400, "invalid_argument", "malformed HTTP request");
    }
    return Close();
  }
  busy_ = true;
  beast::get_lowest_layer(stream_).expires_after(server_->options().request_timeout);
  const auto& req = parser_->get();
  auto expect = req.find(http::field::expect);
  if (expect != req.end() && beast::iequals(expect->value(), "100-continue") && !parser_->is_done()) {
    auto cont = std::make_shared<http::response<http::empty_body>>(http::status::continue_, 11);
    http::async_write(stream_, *cont, [self = this->shared_from_this(), cont](beast::error_code e, size_t) {
      self->OnContinue(e);
    });
    return;
  }
  ReadBody();
}

template <class Stream>
void Session<Stream>::OnContinue(beast::error_code ec) {
  if (ec) return Close();
  ReadBody();
}

template <class Stream>
void Session<Stream>::ReadBody() {
  if (parser_->is_done()) return OnBody({});
  http::async_read(stream_, buffer_, *parser_,
                   [self = this->shared_from_this()](beast::error_code ec, size_t) { self->OnBody(ec); });
}

template <class Stream>
void Session<Stream>::OnBody(beast::error_code ec) {
  if (ec == http::error::body_limit) {
    server_->Refused(413);
    return Refuse(413, "too_large", "request body above the server's limit (--max-body)");
  }
  if (ec == beast::error::timeout) {
    server_->Refused(408);
    return Close();
  }
  if (ec) {
    if (IsHttpParseError(ec)) {
      server_->Refused(400);
      return Refuse(400, "invalid_argument", "malformed HTTP request body");
    }
    return Close();
  }
  http::request<http::string_body> req = parser_->release();
  HttpRequest request;
  request.method = std::string(req.method_string());
  request.target = std::string(req.target());
  const size_t q = request.target.find('?');
  request.path = request.target.substr(0, q);
  request.query = q == std::string::npos ? "" : request.target.substr(q + 1);
  for (const auto& field : req) {
    const auto name = field.name_string();
    const auto value = field.value();
    request.headers.emplace_back(Lower(std::string_view(name.data(), name.size())),
                                 std::string(value.data(), value.size()));
  }
  request.body = std::move(req.body());
  beast::error_code ignored;
  const auto peer = beast::get_lowest_layer(stream_).socket().remote_endpoint(ignored);
  if (!ignored) request.remote = peer.address().to_string();
  HttpResponse response;
  server_->Handle(request, &response);
  Write(std::move(response), req.keep_alive() && !server_->stopping());
}

template <class Stream>
void Session<Stream>::Refuse(int status, std::string_view code, std::string_view message) {
  HttpResponse response;
  response.status = status;
  response.body = ErrorBody(code, message);
  busy_ = true;
  Write(std::move(response), /*keep_alive=*/false);  // the rest of the request is not read
}

template <class Stream>
void Session<Stream>::Write(HttpResponse response, bool keep_alive) {
  response_ =
      std::make_shared<http::response<http::string_body>>(static_cast<http::status>(response.status), 11);
  auto& res = *response_;
  res.set(http::field::server, "safeguard");
  res.set(http::field::content_type, response.content_type);
  res.set(http::field::cache_control, "no-store");
  for (auto& [name, value] : response.headers) res.set(name, value);
  res.body() = std::move(response.body);
  res.keep_alive(keep_alive);
  res.prepare_payload();
  beast::get_lowest_layer(stream_).expires_after(server_->options().request_timeout);
  http::async_write(stream_, res,
                    [self = this->shared_from_this(), keep_alive](beast::error_code ec, size_t) {
                      self->OnWrite(keep_alive, ec);
                    });
}

template <class Stream>
void Session<Stream>::OnWrite(bool keep_alive, beast::error_code ec) {
  response_.reset();
  if (ec || !keep_alive) return Close();
  ReadHeader();
}

template <class Stream>
void Session<Stream>::Close() {
  if (closed_) return;
  closed_ = true;
  busy_ = false;
  beast::error_code ec;
  auto& socket = beast::get_lowest_layer(stream_).socket();
  socket.shutdown(tcp::socket::shutdown_both, ec);
  socket.close(ec);
}

}  // namespace

Status HttpServer::Start(const HttpServerOptions& options, HttpHandler handler,
                         std::unique_ptr<HttpServer>* out) {
  auto server = std::make_unique<ServerImpl>(options, std::move(handler));
  Status s = server->Init();
  if (!s.ok()) return s;
  *out = std::move(server);
  return Status::Ok();
}

}  // namespace safeguard::server
