import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The config file on disk: read whole, and replaced atomically under an exclusive lock on its folder.
///
/// A save writes a temporary file in the same folder (mode 0600), fsyncs it, renames it over the target and fsyncs
/// the folder, so a crash at any moment leaves either the old or the new file, never a partial one. Saves from
/// several processes are serialised by `flock` on the folder. A temporary file left by a killed process is named
/// `.config.toml.tmp-*`, is never read, and is removed by the next save.
struct AtomicConfigFile: Sendable {
    /// The file as named by the caller (used in messages).
    let path: String

    /// The contents, or `nil` when the file does not exist.
    ///
    /// - Throws: ``ConfigError/Kind/fileSystem`` when the file exists but cannot be read;
    ///   ``ConfigError/Kind/invalidTOML`` naming the line and column of the first byte that is not UTF-8.
    func readContents() throws(ConfigError) -> String? {
        let descriptor = open(self.path, O_RDONLY | O_CLOEXEC)
        if descriptor < 0 {
            let code = errno
            if code == ENOENT {
                return nil
            }
            throw self.failure("cannot open for reading", errno: code)
        }
        defer { close(descriptor) }
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            let count = buffer.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
            if count < 0 {
                let code = errno
                if code == EINTR { continue }
                throw self.failure("cannot read", errno: code)
            }
            if count == 0 { break }
            bytes.append(contentsOf: buffer[0..<count])
        }
        return try ConfigFileText.decode(bytes, file: self.path)
    }

    /// Runs `body` holding an exclusive lock on the file's folder, creating the folder (mode 0700) if needed.
    ///
    /// Blocks while another process (or another store) holds the lock.
    func withExclusiveLock<Result>(
        _ body: (Locked) throws(ConfigError) -> Result
    ) throws(ConfigError) -> Result {
        let target = self.resolvedTarget()
        let folder = (target as NSString).deletingLastPathComponent
        try self.createFolders(folder.isEmpty ? "/" : folder)
        let folderDescriptor = open(folder.isEmpty ? "/" : folder, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard folderDescriptor >= 0 else {
            throw self.failure("cannot open its folder", errno: errno)
        }
        defer { close(folderDescriptor) }
        while flock(folderDescriptor, LOCK_EX) != 0 {
            let code = errno
            if code != EINTR {
                throw self.failure("cannot lock its folder", errno: code)
            }
        }
        defer { flock(folderDescriptor, LOCK_UN) }
        return try body(
            Locked(
                file: self,
                target: target,
                folderDescriptor: folderDescriptor,
                temporaryPrefix: "." + (target as NSString).lastPathComponent + ".tmp-"
            )
        )
    }

    /// The file while its folder is locked.
    struct Locked {
        let file: AtomicConfigFile
        let target: String
        let folderDescriptor: Int32
        let temporaryPrefix: String

        /// Replaces the file with `text`: temp file (0600), fsync, rename, fsync of the folder.
        ///
        /// - Throws: ``ConfigError/Kind/fileSystem``; the file is then unchanged and the temp file removed.
        func replace(with text: String) throws(ConfigError) {
            self.removeStaleTemporaryFiles()
            let folder = (self.target as NSString).deletingLastPathComponent
            let random = String(UInt64.random(in: 0...UInt64.max), radix: 16)
            let temporary = "\(folder)/\(self.temporaryPrefix)\(getpid())-\(random)"
            let descriptor = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
            guard descriptor >= 0 else {
                throw self.file.failure("cannot create a temporary file", errno: errno)
            }
            var renamed = false
            defer {
                if !renamed { unlink(temporary) }
            }
            do {
                defer { close(descriptor) }
                // The umask can only take permissions away, but be explicit: the file may hold the API key.
                guard fchmod(descriptor, 0o600) == 0 else {
                    throw self.file.failure("cannot set permissions", errno: errno)
                }
                try self.writeAll(Array(text.utf8), to: descriptor)
                guard fsync(descriptor) == 0 else {
                    throw self.file.failure("cannot fsync", errno: errno)
                }
            }
            guard rename(temporary, self.target) == 0 else {
                throw self.file.failure("cannot rename the temporary file into place", errno: errno)
            }
            renamed = true
            guard fsync(self.folderDescriptor) == 0 else {
                throw self.file.failure("cannot fsync its folder", errno: errno)
            }
        }

        private func writeAll(_ bytes: [UInt8], to descriptor: Int32) throws(ConfigError) {
            var offset = 0
            while offset < bytes.count {
                let written = bytes.withUnsafeBytes { buffer in
                    write(descriptor, buffer.baseAddress! + offset, buffer.count - offset)
                }
                if written < 0 {
                    let code = errno
                    if code == EINTR { continue }
                    throw self.file.failure("cannot write", errno: code)
                }
                offset += written
            }
        }

        /// Removes temp files of earlier saves that were killed before their rename. Safe under the lock: a save
        /// in progress holds the lock for as long as its temp file exists.
        private func removeStaleTemporaryFiles() {
            let folder = (self.target as NSString).deletingLastPathComponent
            guard let names = try? FileManager.default.contentsOfDirectory(atPath: folder) else { return }
            for name in names where name.hasPrefix(self.temporaryPrefix) {
                unlink("\(folder)/\(name)")
            }
        }
    }

    /// The path to write to: if the file is a symbolic link, the file it points to, so that the link survives.
    private func resolvedTarget() -> String {
        var status = stat()
        guard lstat(self.path, &status) == 0, (status.st_mode & S_IFMT) == S_IFLNK,
            let resolved = realpath(self.path, nil)
        else {
            return self.path
        }
        defer { free(resolved) }
        return String(cString: resolved)
    }

    /// `mkdir -p` with mode 0700 for each folder it creates.
    private func createFolders(_ folder: String) throws(ConfigError) {
        var status = stat()
        if stat(folder, &status) == 0 {
            guard (status.st_mode & S_IFMT) == S_IFDIR else {
                throw ConfigError(kind: .fileSystem, file: self.path, reason: "\(folder) is not a folder")
            }
            return
        }
        let parent = (folder as NSString).deletingLastPathComponent
        if !parent.isEmpty, parent != folder {
            try self.createFolders(parent)
        }
        if mkdir(folder, 0o700) != 0 {
            let code = errno
            if code != EEXIST {
                throw self.failure("cannot create folder \(folder)", errno: code)
            }
        } else {
            // mkdir applies the umask; the folder is meant to be private whatever the umask.
            chmod(folder, 0o700)
        }
    }

    fileprivate func failure(_ what: String, errno code: Int32) -> ConfigError {
        ConfigError(kind: .fileSystem, file: self.path, reason: "\(what): \(String(cString: strerror(code)))")
    }
}
