using System.Diagnostics;

namespace Mlx.Backends.Tests;

/// <summary>ILGPU is loaded only when a GPU is asked for: a CPU-only program never touches it (checked in a fresh process).</summary>
public sealed class LoadingTests
{
    private static (float Sum, string[] Assemblies) Probe(params string[] args)
    {
        var probe = Path.Combine(AppContext.BaseDirectory, "Mlx.Backends.Tests.LoadProbe.dll");
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        psi.ArgumentList.Add(probe);
        foreach (var a in args)
        {
            psi.ArgumentList.Add(a);
        }
        psi.Environment.Remove("MLX_GPU");
        using var p = Process.Start(psi)!;
        string stdout = p.StandardOutput.ReadToEnd();
        string stderr = p.StandardError.ReadToEnd();
        p.WaitForExit();
        Assert.True(p.ExitCode == 0, stderr);
        var lines = stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        return (float.Parse(lines[0], System.Globalization.CultureInfo.InvariantCulture), lines[1].Split(' '));
    }

    [Fact]
    public void CpuOnlyProgramsDoNotLoadIlgpu()
    {
        var (sum, assemblies) = Probe();
        Assert.Equal(MathF.Exp(1) + MathF.Exp(2) + MathF.Exp(3), sum, 4);
        Assert.Contains("Mlx.Core", assemblies);
        Assert.DoesNotContain("ILGPU", assemblies);
        Assert.DoesNotContain("Mlx.Kernels.Gpu", assemblies);
    }

    [Fact]
    public void AskingForTheGpuLoadsIt()
    {
        var (sum, assemblies) = Probe("gpu");
        Assert.Equal(MathF.Exp(1) + MathF.Exp(2) + MathF.Exp(3), sum, 4);
        Assert.Contains("ILGPU", assemblies);
        Assert.Contains("Mlx.Kernels.Gpu", assemblies);
    }
}
