using System.Diagnostics.CodeAnalysis;
using System.Reflection;
using ILGPU;
using ILGPU.Algorithms;
using ILGPU.Backends.EntryPoints;
using ILGPU.Backends.PTX;
using ILGPU.Runtime;
using ILGPU.Runtime.Cuda;

namespace Mlx.Kernels.Gpu;

/// <summary>
/// Compiles kernels to NVIDIA PTX without a GPU, so that a kernel ILGPU's CUDA backend cannot compile (an unsupported
/// construct the CPU accelerator accepts) shows up in the tests here rather than on the first real GPU.
/// </summary>
public static class PtxCheck
{
    /// <summary>Kernels that only 256-thread groups (a GPU) load, so that the CPU accelerator's test runs never do.</summary>
    public static IEnumerable<MethodInfo> GpuGroupKernels => new[] { typeof(Gemm128).GetMethod(nameof(Gemm128.Kernel))! };

    /// <summary>
    /// The float32 kernels that must read four elements per access (see <see cref="Quad{T}"/>), and whether they must
    /// also write four at a time (the reduction writes one value per group).
    /// </summary>
    public static IEnumerable<(MethodInfo Kernel, bool Writes)> VectorAccessKernels => new[]
    {
        (typeof(ElementwiseKernels).GetMethod(nameof(ElementwiseKernels.Unary))!.MakeGenericMethod(typeof(float), typeof(F32Ops)), true),
        (typeof(ElementwiseKernels).GetMethod(nameof(ElementwiseKernels.Binary))!.MakeGenericMethod(typeof(float), typeof(F32Ops)), true),
        (typeof(FusedKernels).GetMethod(nameof(FusedKernels.Run))!, true),
        (typeof(OnlineSoftmaxKernels).GetMethod(nameof(OnlineSoftmaxKernels.QuadGroups))!.MakeGenericMethod(typeof(float), typeof(F32Ops)), true),
        (typeof(ReduceKernels).GetMethod(nameof(ReduceKernels.QuadGroups))!.MakeGenericMethod(typeof(float), typeof(F32Ops)), false),
        (ChainKernel(new[] { 1, (int)BinaryOp.Multiply, -1, -2, 1, (int)BinaryOp.Add, 0, -3 }), true),
    };

    /// <summary>The kernel of one fused program (<see cref="ChainKernels"/>), e.g. a*b+c as {1, Multiply, -1, -2, 1, Add, 0, -3}.</summary>
    [UnconditionalSuppressMessage("AOT", "IL3050", Justification = "ILGPU emits code at run time: this assembly never runs trimmed or under NativeAOT.")]
    [UnconditionalSuppressMessage("Trimming", "IL2076", Justification = "ILGPU emits code at run time: this assembly never runs trimmed or under NativeAOT.")]
    public static MethodInfo ChainKernel(int[] program) =>
        typeof(ChainKernels).GetMethod(nameof(ChainKernels.Run))!.MakeGenericMethod(ChainKernels.ChainType(program)!);

    /// <summary>The PTX of each kernel, compiled for <paramref name="architecture"/> (default sm_80).</summary>
    public static IReadOnlyList<(MethodInfo Kernel, string Ptx)> Compile(IEnumerable<MethodInfo> kernels, CudaArchitecture? architecture = null)
    {
        var arch = architecture ?? CudaArchitecture.SM_80;
        using var context = Context.Create(b => b.EnableAlgorithms().Optimize(GpuDevice.Optimization));
        using var backend = new PTXBackend(context, new CudaCapabilityContext(arch), arch, CudaInstructionSet.ISA_80, null);
        var result = new List<(MethodInfo, string)>();
        foreach (var kernel in kernels)
        {
            var entry = EntryPointDescription.FromExplicitlyGroupedKernel(kernel);
            var compiled = (PTXCompiledKernel)backend.Compile(entry, default(KernelSpecialization));
            result.Add((kernel, compiled.PTXAssembly));
        }
        return result;
    }
}
