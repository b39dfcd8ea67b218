using System.Security.Cryptography;
using System.Text;
using Mlx.Formats.Trust;

namespace Mlx.Cli;

/// <summary>
/// <c>mlx sign</c>, <c>mlx verify</c>, <c>mlx keygen</c>: OpenSSF Model Signing (OMS v1.0) signatures of model
/// folders with EC keys or certificate chains. Exit 0 on success, 2 usage, 3 malformed input (a key or certificate
/// file), 4 verification failed (one line: which file, which check), 5 a path refused.
/// </summary>
internal static class TrustCommands
{
    private const string SignUsage = "usage: mlx sign --key KEY.pem [--cert CHAIN.pem] [--allow-symlinks] [--ignore PATH]... MODEL_DIR";
    private const string VerifyUsage = "usage: mlx verify (--key PUB.pem | --cert-chain CHAIN.pem) [--allow-symlinks] [--ignore PATH]... MODEL_DIR";
    private const string KeygenUsage = "usage: mlx keygen --out PREFIX   (writes PREFIX.pem, mode 0600, and PREFIX.pub.pem; P-256)";

    /// <summary>Environment variable holding the password of an encrypted private key.</summary>
    public const string PasswordVariable = "MLX_SIGNING_KEY_PASSWORD";

    private sealed class Parsed
    {
        public Dictionary<string, string> Options { get; } = new(StringComparer.Ordinal);
        public List<string> Ignore { get; } = [];
        public List<string> Positional { get; } = [];
        public bool AllowSymlinks { get; set; }
        public bool Help { get; set; }
    }

    private static Parsed? Parse(string[] args, string[] valued, TextWriter stderr, string command, string usage)
    {
        var p = new Parsed();
        bool done = false;
        for (int i = 0; i < args.Length; i++)
        {
            string a = args[i];
            if (!done && a == "--")
            {
                done = true;
            }
            else if (!done && a is "-h" or "--help")
            {
                p.Help = true;
            }
            else if (!done && a == "--allow-symlinks")
            {
                p.AllowSymlinks = true;
            }
            else if (!done && (a == "--ignore" || valued.Contains(a)))
            {
                if (i + 1 >= args.Length)
                {
                    stderr.WriteLine($"mlx: {command}: {a} needs a value");
                    stderr.WriteLine(usage);
                    return null;
                }
                if (a == "--ignore")
                {
                    p.Ignore.Add(args[++i]);
                }
                else if (!p.Options.TryAdd(a, args[++i]))
                {
                    stderr.WriteLine($"mlx: {command}: {a} given twice");
                    return null;
                }
            }
            else if (!done && a.StartsWith('-') && a != "-")
            {
                stderr.WriteLine($"mlx: {command}: unknown option '{a}'");
                stderr.WriteLine(usage);
                return null;
            }
            else
            {
                p.Positional.Add(a);
            }
        }
        return p;
    }

    private static string ReadText(string path) => Encoding.UTF8.GetString(ModelRoot.ReadRegularFile(path, 1 << 20));

    public static int Sign(string[] args, TextWriter stdout, TextWriter stderr)
    {
        Parsed? p = Parse(args, ["--key", "--cert"], stderr, "sign", SignUsage);
        if (p is null)
        {
            return ExitCodes.Usage;
        }
        if (p.Help)
        {
            stdout.WriteLine(SignUsage);
            return ExitCodes.Ok;
        }
        if (!p.Options.TryGetValue("--key", out string? keyPath) || p.Positional.Count != 1)
        {
            stderr.WriteLine(SignUsage);
            return ExitCodes.Usage;
        }
        string folder = p.Positional[0];
        return Guard("sign", stderr, () =>
        {
            string? password = Environment.GetEnvironmentVariable(PasswordVariable);
            string keyPem = Input(keyPath, ReadText);
            using ModelSigner signer = p.Options.TryGetValue("--cert", out string? certPath)
                ? Input(keyPath, _ => ModelSigner.FromPrivateKeyAndCertificates(keyPem, ReadText(certPath), password))
                : Input(keyPath, _ => ModelSigner.FromPrivateKeyPem(keyPem, password));
            signer.Sign(folder, new ManifestOptions { AllowSymlinks = p.AllowSymlinks, IgnorePaths = p.Ignore });
            stdout.WriteLine($"mlx: signed {folder}: wrote {Path.Combine(folder, Oms.SignatureFileName)}");
            return ExitCodes.Ok;
        });
    }

    public static int Verify(string[] args, TextWriter stdout, TextWriter stderr)
    {
        Parsed? p = Parse(args, ["--key", "--cert-chain"], stderr, "verify", VerifyUsage);
        if (p is null)
        {
            return ExitCodes.Usage;
        }
        if (p.Help)
        {
            stdout.WriteLine(VerifyUsage);
            return ExitCodes.Ok;
        }
        bool hasKey = p.Options.TryGetValue("--key", out string? keyPath);
        bool hasChain = p.Options.TryGetValue("--cert-chain", out string? chainPath);
        if (hasKey == hasChain || p.Positional.Count != 1)
        {
            stderr.WriteLine(VerifyUsage);
            return ExitCodes.Usage;
        }
        string folder = p.Positional[0];
        return Guard("verify", stderr, () =>
        {
            string source = hasKey ? keyPath! : chainPath!;
            string pem = Input(source, ReadText);
            using TrustedSigner trusted = Input(source, _ => hasKey ? TrustedSigner.FromPublicKeyPem(pem) : TrustedSigner.FromCertificateChainPem(pem));
            using VerifiedModel model = ModelVerifier.Verify(folder, trusted, new VerifyOptions { AllowSymlinks = p.AllowSymlinks, IgnorePaths = p.Ignore });
            stdout.WriteLine($"mlx: verified {folder}: {model.Files.Count} file(s) signed as '{model.ModelName}'");
            return ExitCodes.Ok;
        });
    }

    public static int Keygen(string[] args, TextWriter stdout, TextWriter stderr)
    {
        Parsed? p = Parse(args, ["--out"], stderr, "keygen", KeygenUsage);
        if (p is null)
        {
            return ExitCodes.Usage;
        }
        if (p.Help)
        {
            stdout.WriteLine(KeygenUsage);
            return ExitCodes.Ok;
        }
        if (!p.Options.TryGetValue("--out", out string? prefix) || p.Positional.Count != 0 || prefix.Length == 0)
        {
            stderr.WriteLine(KeygenUsage);
            return ExitCodes.Usage;
        }
        string priv = prefix + ".pem";
        string pub = prefix + ".pub.pem";
        foreach (string f in new[] { priv, pub })
        {
            if (File.Exists(f) || Directory.Exists(f))
            {
                stderr.WriteLine($"mlx: keygen: {f} exists; not overwriting it");
                return ExitCodes.Usage;
            }
        }
        return Guard("keygen", stderr, () =>
        {
            using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
            var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write, Share = FileShare.None };
            if (!OperatingSystem.IsWindows())
            {
                options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
            }
            using (var w = new StreamWriter(new FileStream(priv, options), new UTF8Encoding(false)))
            {
                w.Write(key.ExportPkcs8PrivateKeyPem().ReplaceLineEndings("\n") + "\n");
            }
            File.WriteAllText(pub, EcKeys.PublicKeyPem(key), new UTF8Encoding(false));
            stdout.WriteLine($"mlx: wrote {priv} (private, keep it secret) and {pub}");
            return ExitCodes.Ok;
        });
    }

    private sealed class InputException(string message) : Exception(message);

    /// <summary>Runs a step that reads a user-supplied key or certificate file; its failures are "malformed input" (3).</summary>
    private static T Input<T>(string path, Func<string, T> read)
    {
        try
        {
            return read(path);
        }
        catch (PathRefusedException e)
        {
            throw new InputException($"{path}: {e.Reason}");
        }
        catch (Exception e) when (e is CryptographicException or IOException or UnauthorizedAccessException or ArgumentException)
        {
            throw new InputException($"{path}: {e.Message}");
        }
    }

    private static int Guard(string command, TextWriter stderr, Func<int> body)
    {
        try
        {
            return body();
        }
        catch (InputException e)
        {
            stderr.WriteLine($"mlx: {command}: {e.Message}");
            return ExitCodes.BadFile;
        }
        catch (SignatureVerificationException e)
        {
            stderr.WriteLine($"mlx: {command}: {e.Message}");
            return command == "verify" ? ExitCodes.VerificationFailed : ExitCodes.PathRefused;
        }
        catch (PathRefusedException e)
        {
            stderr.WriteLine($"mlx: {command}: {e.Message}");
            return ExitCodes.PathRefused;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or CryptographicException)
        {
            stderr.WriteLine($"mlx: {command}: {e.Message.ReplaceLineEndings(" ")}");
            return ExitCodes.BadFile;
        }
    }

    /// <summary>The hidden child of an isolated load: writes the tensor stream to the real stdout.</summary>
    public static int LoadChild(string[] args, TextWriter stdout, TextWriter stderr)
    {
        using System.IO.Stream raw = Console.OpenStandardOutput();
        return IsolatedLoader.RunChild(args, raw, stderr);
    }
}
