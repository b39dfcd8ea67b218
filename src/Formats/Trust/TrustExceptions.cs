namespace Mlx.Formats.Trust;

/// <summary>Base of every refusal made by the trust layer (paths, digests, signatures, isolation).</summary>
public abstract class ModelTrustException : Exception
{
    /// <summary>Creates a refusal with a one-line message.</summary>
    protected ModelTrustException(string message, Exception? inner = null) : base(message, inner)
    {
    }
}

/// <summary>A name or path was refused before anything was read from it (escape, link out of the root, not a regular file, too large).</summary>
public sealed class PathRefusedException : ModelTrustException
{
    /// <summary>Creates the refusal.</summary>
    public PathRefusedException(string path, string reason) : base($"{path}: {reason}")
    {
        Path = path;
        Reason = reason;
    }

    /// <summary>The name or path as given.</summary>
    public string Path { get; }

    /// <summary>Why it was refused.</summary>
    public string Reason { get; }
}

/// <summary>A file's SHA-256 is not the pinned one; nothing was parsed.</summary>
public sealed class DigestMismatchException : ModelTrustException
{
    /// <summary>Creates the refusal.</summary>
    public DigestMismatchException(string path, string expectedSha256, string actualSha256)
        : base($"{path}: SHA-256 mismatch: expected {expectedSha256}, got {actualSha256}; the file was not loaded")
    {
        Path = path;
        Expected = expectedSha256;
        Actual = actualSha256;
    }

    /// <summary>The file.</summary>
    public string Path { get; }

    /// <summary>The pinned digest (lower-case hex).</summary>
    public string Expected { get; }

    /// <summary>The digest of the bytes read (lower-case hex).</summary>
    public string Actual { get; }
}

/// <summary>Which check of a model signature failed.</summary>
public enum VerificationCheck
{
    /// <summary>model.sig is missing, empty, not JSON, or not a Sigstore bundle as the format defines it.</summary>
    Bundle,
    /// <summary>The signature does not verify with the trusted key, or the key hint names another key.</summary>
    Signature,
    /// <summary>The certificate chain does not lead to a trusted root, or the certificate may not sign.</summary>
    Certificate,
    /// <summary>The DSSE payload type is not application/vnd.in-toto+json, or the statement type is wrong.</summary>
    PayloadType,
    /// <summary>The predicate type is not https://model_signing/signature/v1.0.</summary>
    PredicateType,
    /// <summary>The subject digest is not the SHA-256 of the resources' digests.</summary>
    SubjectDigest,
    /// <summary>A hash algorithm or serialization this implementation does not support (BLAKE2, BLAKE3, shards).</summary>
    Unsupported,
    /// <summary>A file's digest differs from the signed one.</summary>
    ChangedFile,
    /// <summary>A signed file is missing.</summary>
    MissingFile,
    /// <summary>A file that was not signed is present.</summary>
    ExtraFile,
    /// <summary>A symbolic link where the signature (or the caller) does not allow one, or one leading outside the folder.</summary>
    Symlink,
    /// <summary>A FIFO, device, socket or other non-regular entry in the model folder.</summary>
    NotRegularFile,
    /// <summary>The statement is malformed (missing fields, bad names, duplicates).</summary>
    Statement,
}

/// <summary>A model folder failed signature verification; <see cref="File"/> and <see cref="Check"/> say where and what.</summary>
public sealed class SignatureVerificationException : ModelTrustException
{
    /// <summary>Creates the refusal.</summary>
    public SignatureVerificationException(string file, VerificationCheck check, string reason, Exception? inner = null)
        : base($"{file}: {CheckName(check)}: {reason}", inner)
    {
        File = file;
        Check = check;
        Reason = reason;
    }

    /// <summary>The file concerned (model.sig for bundle/signature checks; the model file's relative name otherwise).</summary>
    public string File { get; }

    /// <summary>The check that failed.</summary>
    public VerificationCheck Check { get; }

    /// <summary>The reason, one line.</summary>
    public string Reason { get; }

    /// <summary>A short name for a check, as it appears in messages.</summary>
    public static string CheckName(VerificationCheck check) => check switch
    {
        VerificationCheck.Bundle => "bundle",
        VerificationCheck.Signature => "signature",
        VerificationCheck.Certificate => "certificate",
        VerificationCheck.PayloadType => "payload type",
        VerificationCheck.PredicateType => "predicate type",
        VerificationCheck.SubjectDigest => "subject digest",
        VerificationCheck.Unsupported => "unsupported",
        VerificationCheck.ChangedFile => "changed file",
        VerificationCheck.MissingFile => "missing file",
        VerificationCheck.ExtraFile => "extra file",
        VerificationCheck.Symlink => "symlink",
        VerificationCheck.NotRegularFile => "not a regular file",
        _ => "statement",
    };
}

/// <summary>An isolated load failed: the child broke a limit, was killed, or sent something the parent refused.</summary>
public sealed class IsolatedLoadException : ModelTrustException
{
    /// <summary>Creates the refusal.</summary>
    public IsolatedLoadException(string path, string reason) : base($"{path}: isolated load failed: {reason}")
    {
        Path = path;
        Reason = reason;
    }

    /// <summary>The file.</summary>
    public string Path { get; }

    /// <summary>Why.</summary>
    public string Reason { get; }
}
