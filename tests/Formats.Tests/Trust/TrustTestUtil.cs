using System.Diagnostics;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Mlx.Formats.Trust;

namespace Mlx.Formats.Tests.Trust;

internal static class TrustTestUtil
{
    /// <summary>A model folder with a safetensors file, a config and a file in a subfolder.</summary>
    public static string ModelFolder()
    {
        string dir = Path.Combine(TestUtil.TempDir(), "my-model");
        Directory.CreateDirectory(Path.Combine(dir, "tokenizer"));
        SafetensorsWriter.Write(Path.Combine(dir, "model.safetensors"),
            [new TensorData("w", TensorDType.Float32, [2, 2], MemoryMarshalBytes([1f, 2f, 3f, 4f]))]);
        File.WriteAllText(Path.Combine(dir, "config.json"), "{\"hidden\": 4}");
        File.WriteAllText(Path.Combine(dir, "tokenizer", "vocab.txt"), "a\nb\n");
        return dir;
    }

    public static byte[] MemoryMarshalBytes(float[] values) => System.Runtime.InteropServices.MemoryMarshal.AsBytes(values.AsSpan()).ToArray();

    public static ECDsa NewKey(int bits = 256) => ECDsa.Create(bits switch
    {
        384 => ECCurve.NamedCurves.nistP384,
        521 => ECCurve.NamedCurves.nistP521,
        _ => ECCurve.NamedCurves.nistP256,
    });

    public static TrustedSigner TrustKey(ECDsa key) => TrustedSigner.FromPublicKeyPem(key.ExportSubjectPublicKeyInfoPem());

    /// <summary>Signs with a copy of the key (the signer owns and disposes its key).</summary>
    public static byte[] Sign(string dir, ECDsa key, ManifestOptions? options = null)
    {
        using ModelSigner signer = ModelSigner.FromPrivateKeyPem(key.ExportPkcs8PrivateKeyPem());
        return signer.Sign(dir, options);
    }

    public static SignatureVerificationException Fails(string dir, ECDsa key, VerificationCheck check, string file, VerifyOptions? options = null)
    {
        using TrustedSigner trusted = TrustKey(key);
        var clock = Stopwatch.StartNew();
        var e = Assert.Throws<SignatureVerificationException>(() => ModelVerifier.Verify(dir, trusted, options).Dispose());
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(10));
        Assert.Equal(check, e.Check);
        Assert.Equal(file, e.File);
        Assert.StartsWith(file + ": ", e.Message);
        Assert.DoesNotContain("\n", e.Message);
        return e;
    }

    public static void Verifies(string dir, ECDsa key, VerifyOptions? options = null)
    {
        using TrustedSigner trusted = TrustKey(key);
        using VerifiedModel m = ModelVerifier.Verify(dir, trusted, options);
        Assert.NotEmpty(m.Files);
    }

    /// <summary>The statement inside a model.sig (base64 payload decoded).</summary>
    public static byte[] Payload(string dir)
    {
        using JsonDocument b = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(dir, Oms.SignatureFileName)));
        return Convert.FromBase64String(b.RootElement.GetProperty("dsseEnvelope").GetProperty("payload").GetString()!);
    }

    /// <summary>
    /// Writes a model.sig carrying <paramref name="payload"/> (any bytes), signed over DSSE PAE with
    /// <paramref name="payloadType"/>, written independently of the library (from the DSSE and bundle documentation).
    /// </summary>
    public static void WriteBundle(string dir, ECDsa key, byte[] payload, string payloadType = "application/vnd.in-toto+json", bool hint = true)
    {
        byte[] pae = Concat(Encoding.UTF8.GetBytes($"DSSEv1 {Encoding.UTF8.GetByteCount(payloadType)} {payloadType} {payload.Length} "), payload);
        HashAlgorithmName hash = key.KeySize switch { 384 => HashAlgorithmName.SHA384, 521 => HashAlgorithmName.SHA512, _ => HashAlgorithmName.SHA256 };
        byte[] sig = key.SignData(pae, hash, DSASignatureFormat.Rfc3279DerSequence);
        string pem = key.ExportSubjectPublicKeyInfoPem().Replace("\r\n", "\n") + "\n";
        string hintHex = Convert.ToHexStringLower(SHA256.HashData(Encoding.ASCII.GetBytes(pem)));
        string material = hint ? $"{{\"publicKey\":{{\"hint\":\"{hintHex}\"}},\"tlogEntries\":[]}}" : "{\"publicKey\":{},\"tlogEntries\":[]}";
        string json = $"{{\"mediaType\":\"application/vnd.dev.sigstore.bundle.v0.3+json\",\"verificationMaterial\":{material},"
            + $"\"dsseEnvelope\":{{\"payload\":\"{Convert.ToBase64String(payload)}\",\"payloadType\":\"{payloadType}\",\"signatures\":[{{\"sig\":\"{Convert.ToBase64String(sig)}\",\"keyid\":\"\"}}]}}}}";
        File.WriteAllText(Path.Combine(dir, Oms.SignatureFileName), json);
    }

    /// <summary>An in-toto statement written by hand from the format's documentation (not with the library).</summary>
    public static byte[] Statement(string modelName, IEnumerable<(string Name, string Digest)> resources, string predicateType = "https://model_signing/signature/v1.0",
        string hashType = "sha256", string algorithm = "sha256", string? subjectDigest = null, bool allowSymlinks = false)
    {
        var sorted = resources.OrderBy(r => r.Name, StringComparer.Ordinal).ToList();
        subjectDigest ??= Convert.ToHexStringLower(SHA256.HashData(sorted.SelectMany(r => Convert.FromHexString(r.Digest)).ToArray()));
        var sb = new StringBuilder();
        sb.Append("{\n  \"_type\": \"https://in-toto.io/Statement/v1\",\n  \"subject\": [{\"name\": \"").Append(modelName)
          .Append("\", \"digest\": {\"sha256\": \"").Append(subjectDigest).Append("\"}}],\n  \"predicateType\": \"").Append(predicateType)
          .Append("\",\n  \"predicate\": {\"serialization\": {\"method\": \"files\", \"hash_type\": \"").Append(hashType)
          .Append("\", \"allow_symlinks\": ").Append(allowSymlinks ? "true" : "false")
          .Append(", \"ignore_paths\": [\"model.sig\", \".git\"]}, \"resources\": [");
        sb.Append(string.Join(", ", sorted.Select(r => $"{{\"algorithm\": \"{algorithm}\", \"digest\": \"{r.Digest}\", \"name\": \"{r.Name}\"}}")));
        sb.Append("]}\n}\n");
        return Encoding.UTF8.GetBytes(sb.ToString());
    }

    /// <summary>(relative name, sha256 hex) of every file in the folder except model.sig, computed in the test.</summary>
    public static List<(string Name, string Digest)> Digests(string dir) =>
        Directory.EnumerateFiles(dir, "*", SearchOption.AllDirectories)
            .Select(f => (Name: Path.GetRelativePath(dir, f).Replace('\\', '/'), Digest: Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(f)))))
            .Where(f => f.Name != "model.sig")
            .ToList();

    public static byte[] Concat(byte[] a, byte[] b)
    {
        byte[] r = new byte[a.Length + b.Length];
        a.CopyTo(r, 0);
        b.CopyTo(r, a.Length);
        return r;
    }

    public static void MkFifo(string path)
    {
        using var p = Process.Start(new ProcessStartInfo("/usr/bin/mkfifo", [path]) { UseShellExecute = false })!;
        p.WaitForExit();
        Assert.Equal(0, p.ExitCode);
    }
}
