#include "postgres_server.hpp"

#include <fcntl.h>
#include <grp.h>
#include <libpq-fe.h>
#include <pwd.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>
#include <vector>

#include "redis_server.hpp"

namespace flashsale::testing {

namespace {

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

struct Credentials {
  bool drop = false;
  uid_t uid = 0;
  gid_t gid = 0;
};

// Forks a child that runs `argv` with its output in `log_path`, as the
// unprivileged user when `credentials.drop`, and that gets SIGQUIT when this
// process dies. Returns its pid.
pid_t spawn(const std::vector<std::string>& argv, const std::string& log_path,
            const Credentials& credentials) {
  std::vector<char*> words;
  for (const auto& word : argv) {
    words.push_back(const_cast<char*>(word.c_str()));
  }
  words.push_back(nullptr);
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid < 0) {
    throw std::runtime_error("fork failed");
  }
  if (pid == 0) {
    const int log = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (log >= 0) {
      ::dup2(log, STDOUT_FILENO);
      ::dup2(log, STDERR_FILENO);
      ::close(log);
    }
    if (credentials.drop) {
      if (::setgroups(0, nullptr) != 0 || ::setgid(credentials.gid) != 0 ||
          ::setuid(credentials.uid) != 0) {
        ::_exit(126);
      }
    }
    // After the credential change, which clears it.
    ::prctl(PR_SET_PDEATHSIG, SIGQUIT);
    if (::getppid() != parent) {
      ::_exit(125);
    }
    ::execv(words[0], words.data());
    ::_exit(127);
  }
  return pid;
}

bool exited(pid_t pid, int* status) {
  return ::waitpid(pid, status, WNOHANG) == pid;
}

}  // namespace

std::string postgres_bin_directory() {
  const char* configured = std::getenv("FLASHSALE_POSTGRES_BIN");
  if (configured != nullptr && *configured != '\0') {
    return configured;
  }
  std::vector<std::filesystem::path> found;
  std::error_code error;
  for (const auto& entry : std::filesystem::directory_iterator("/usr/lib/postgresql", error)) {
    if (std::filesystem::exists(entry.path() / "bin" / "postgres")) {
      found.push_back(entry.path() / "bin");
    }
  }
  if (found.empty()) {
    throw std::runtime_error(
        "no PostgreSQL server found (install Debian's postgresql or set FLASHSALE_POSTGRES_BIN)");
  }
  std::sort(found.begin(), found.end(), [](const auto& a, const auto& b) {
    return std::stoi(a.parent_path().filename().string()) <
           std::stoi(b.parent_path().filename().string());
  });
  return found.back().string();
}

PostgresServer::PostgresServer() {
  std::string pattern =
      (std::filesystem::temp_directory_path() / "flashsale-postgres-XXXXXX").string();
  if (::mkdtemp(pattern.data()) == nullptr) {
    throw std::runtime_error("mkdtemp failed");
  }
  directory_ = pattern;
  data_directory_ = directory_ + "/data";
  try {
    if (::geteuid() == 0) {
      const passwd* user = ::getpwnam("postgres");
      if (user == nullptr) {
        throw std::runtime_error("running as root and there is no postgres user to run as");
      }
      drop_privileges_ = true;
      run_as_uid_ = user->pw_uid;
      run_as_gid_ = user->pw_gid;
      if (::chown(directory_.c_str(), run_as_uid_, run_as_gid_) != 0) {
        throw std::runtime_error("cannot hand " + directory_ + " to the postgres user");
      }
    }
    ::chmod(directory_.c_str(), 0700);
    const Credentials credentials{drop_privileges_, run_as_uid_, run_as_gid_};
    const std::string log = directory_ + "/initdb.log";
    const pid_t initdb = spawn({postgres_bin_directory() + "/initdb", "-D", data_directory_, "-U",
                                "flashsale", "-A", "trust", "-N", "-E", "UTF8", "--locale=C"},
                               log, credentials);
    int status = 0;
    while (::waitpid(initdb, &status, 0) < 0 && errno == EINTR) {
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
      throw std::runtime_error("initdb failed:\n" + read_file(log));
    }
    start();
  } catch (...) {
    stop();
    throw;
  }
}

PostgresServer::~PostgresServer() {
  stop();
}

void PostgresServer::start() {
  const Credentials credentials{drop_privileges_, run_as_uid_, run_as_gid_};
  const std::string log = directory_ + "/server.log";
  constexpr int kAttempts = 5;
  for (int attempt = 0; attempt < kAttempts; ++attempt) {
    port_ = free_loopback_port();
    pid_ = spawn(
        {postgres_bin_directory() + "/postgres", "-D", data_directory_, "-p", std::to_string(port_),
         "-k", directory_, "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c",
         "synchronous_commit=off", "-c", "full_page_writes=off", "-c", "max_connections=200"},
        log, credentials);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    const std::string info = conninfo() + " connect_timeout=2";
    while (std::chrono::steady_clock::now() < deadline) {
      int status = 0;
      if (exited(pid_, &status)) {
        pid_ = -1;
        break;  // probably lost the port to someone else: try another
      }
      if (PQping(info.c_str()) == PQPING_OK) {
        return;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    if (pid_ > 0) {
      throw std::runtime_error("PostgreSQL did not come up:\n" + read_file(log));
    }
  }
  throw std::runtime_error("PostgreSQL did not start:\n" + read_file(log));
}

void PostgresServer::stop() noexcept {
  if (pid_ > 0) {
    // Immediate shutdown: the test's data is thrown away anyway.
    ::kill(pid_, SIGQUIT);
    int status = 0;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (!exited(pid_, &status)) {
      if (std::chrono::steady_clock::now() > deadline) {
        ::kill(pid_, SIGKILL);
        ::waitpid(pid_, &status, 0);
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    pid_ = -1;
  }
  if (!directory_.empty()) {
    std::error_code ignored;
    std::filesystem::remove_all(directory_, ignored);
    directory_.clear();
  }
}

std::string PostgresServer::conninfo() const {
  return "host=127.0.0.1 port=" + std::to_string(port_) + " user=flashsale dbname=postgres";
}

PGconn* PostgresServer::connect() const {
  PGconn* connection = PQconnectdb(conninfo().c_str());
  if (PQstatus(connection) != CONNECTION_OK) {
    const std::string message = PQerrorMessage(connection);
    PQfinish(connection);
    throw std::runtime_error("cannot connect to the test PostgreSQL: " + message);
  }
  return connection;
}

PostgresConnection::PostgresConnection(const std::string& conninfo)
    : connection_(PQconnectdb(conninfo.c_str())) {
  if (PQstatus(connection_) != CONNECTION_OK) {
    const std::string message = PQerrorMessage(connection_);
    PQfinish(connection_);
    throw std::runtime_error("cannot connect to the test PostgreSQL: " + message);
  }
}

PostgresConnection::~PostgresConnection() {
  PQfinish(connection_);
}

std::string PostgresConnection::execute(const std::string& sql) {
  PGresult* result = PQexec(connection_, sql.c_str());
  const auto status = PQresultStatus(result);
  if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
    const std::string message = PQresultErrorMessage(result);
    PQclear(result);
    throw std::runtime_error(sql + ": " + message);
  }
  std::string value;
  if (status == PGRES_TUPLES_OK && PQntuples(result) > 0 && PQnfields(result) > 0) {
    value = PQgetvalue(result, 0, 0);
  }
  PQclear(result);
  return value;
}

}  // namespace flashsale::testing
