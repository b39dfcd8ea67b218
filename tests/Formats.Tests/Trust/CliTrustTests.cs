using System.Security.Cryptography;
using Mlx.Cli;
using static Mlx.Formats.Tests.Trust.TrustTestUtil;

namespace Mlx.Formats.Tests.Trust;

/// <summary><c>mlx keygen/sign/verify</c>: exit codes 0/2/3/4/5, one stderr line, never a stack trace.</summary>
public class CliTrustTests
{
    private delegate int Cmd(string[] args, TextWriter stdout, TextWriter stderr);

    private static (int Code, string Out, string Err) Run(Cmd cmd, params string[] args)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        int code = cmd(args, stdout, stderr);
        Assert.DoesNotContain("   at ", stderr.ToString());
        return (code, stdout.ToString(), stderr.ToString());
    }

    private static string Keys()
    {
        string prefix = Path.Combine(TestUtil.TempDir(), "key");
        Assert.Equal(0, Run(TrustCommands.Keygen, "--out", prefix).Code);
        return prefix;
    }

    [Fact]
    public void KeygenWritesAPrivateP256PairOnce()
    {
        string prefix = Keys();
        if (!OperatingSystem.IsWindows())
        {
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(prefix + ".pem"));
        }
        Assert.StartsWith("-----BEGIN PRIVATE KEY-----", File.ReadAllText(prefix + ".pem"));
        using var key = ECDsa.Create();
        key.ImportFromPem(File.ReadAllText(prefix + ".pub.pem"));
        Assert.Equal(256, key.KeySize);
        Assert.Equal(2, Run(TrustCommands.Keygen, "--out", prefix).Code);
        Assert.Equal(2, Run(TrustCommands.Keygen).Code);
    }

    [Fact]
    public void SignThenVerifyThenDamage()
    {
        string prefix = Keys();
        string dir = ModelFolder();
        (int code, string output, _) = Run(TrustCommands.Sign, "--key", prefix + ".pem", dir);
        Assert.Equal(0, code);
        Assert.Contains("model.sig", output);
        Assert.True(File.Exists(Path.Combine(dir, "model.sig")));
        Assert.Equal(0, Run(TrustCommands.Verify, "--key", prefix + ".pub.pem", dir).Code);

        File.WriteAllText(Path.Combine(dir, "config.json"), "{}");
        (code, _, string err) = Run(TrustCommands.Verify, "--key", prefix + ".pub.pem", dir);
        Assert.Equal(4, code);
        Assert.StartsWith("mlx: verify: config.json: changed file: ", err);
        Assert.Single(err.Split('\n', StringSplitOptions.RemoveEmptyEntries));

        string other = Keys();
        (code, _, err) = Run(TrustCommands.Verify, "--key", other + ".pub.pem", dir);
        Assert.Equal(4, code);
        Assert.StartsWith("mlx: verify: model.sig: signature: ", err);
    }

    [Fact]
    public void CertificateChainOptions()
    {
        Assert.Equal(0, Run(TrustCommands.Verify, "--cert-chain", TestUtil.Data("oms", "ca-cert.pem"), TestUtil.Data("oms", "v1.1.0-certificate")).Code);
        Assert.Equal(0, Run(TrustCommands.Verify, "--key", TestUtil.Data("oms", "signing-key-pub.pem"), TestUtil.Data("oms", "v1.1.0-elliptic-key")).Code);
        Assert.Equal(4, Run(TrustCommands.Verify, "--cert-chain", TestUtil.Data("oms", "ca-cert.pem"), TestUtil.Data("oms", "v1.1.0-elliptic-key")).Code);
    }

    [Fact]
    public void UsageErrorsExitTwo()
    {
        Assert.Equal(2, Run(TrustCommands.Sign).Code);
        Assert.Equal(2, Run(TrustCommands.Sign, "--key").Code);
        Assert.Equal(2, Run(TrustCommands.Sign, "--key", "k", "a", "b").Code);
        Assert.Equal(2, Run(TrustCommands.Verify, "dir").Code);
        Assert.Equal(2, Run(TrustCommands.Verify, "--key", "a", "--cert-chain", "b", "dir").Code);
        Assert.Equal(2, Run(TrustCommands.Verify, "--bogus", "dir").Code);
        Assert.Equal(0, Run(TrustCommands.Verify, "--help").Code);
    }

    [Fact]
    public void MalformedKeyFilesExitThree()
    {
        string dir = ModelFolder();
        string junk = TestUtil.WriteTemp("not a key"u8.ToArray(), ".pem");
        Assert.Equal(3, Run(TrustCommands.Sign, "--key", junk, dir).Code);
        Assert.Equal(3, Run(TrustCommands.Verify, "--key", junk, dir).Code);
        Assert.Equal(3, Run(TrustCommands.Verify, "--cert-chain", junk, dir).Code);
        Assert.Equal(3, Run(TrustCommands.Verify, "--key", "/dev/zero", dir).Code);
        Assert.Equal(3, Run(TrustCommands.Verify, "--key", Path.Combine(dir, "nope.pem"), dir).Code);
        using var rsa = RSA.Create(2048);
        string rsaPem = TestUtil.WriteTemp(System.Text.Encoding.ASCII.GetBytes(rsa.ExportPkcs8PrivateKeyPem()), ".pem");
        (int code, _, string err) = Run(TrustCommands.Sign, "--key", rsaPem, dir);
        Assert.Equal(3, code);
        Assert.Contains("P-256", err);
    }

    [Fact]
    public void RefusedPathsExitFive()
    {
        string prefix = Keys();
        Assert.Equal(5, Run(TrustCommands.Sign, "--key", prefix + ".pem", Path.Combine(TestUtil.TempDir(), "missing")).Code);
        Assert.Equal(5, Run(TrustCommands.Verify, "--key", prefix + ".pub.pem", Path.Combine(TestUtil.TempDir(), "missing")).Code);
        string dir = ModelFolder();
        File.CreateSymbolicLink(Path.Combine(dir, "link"), "/etc/passwd");
        (int code, _, string err) = Run(TrustCommands.Sign, "--key", prefix + ".pem", dir);
        Assert.Equal(5, code);
        Assert.Contains("link", err);
        Assert.False(File.Exists(Path.Combine(dir, "model.sig")));
    }
}
