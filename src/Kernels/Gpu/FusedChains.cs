using System.Diagnostics.CodeAnalysis;
using ILGPU;
using ILGPU.Runtime;

namespace Mlx.Kernels.Gpu;

/// <summary>
/// Compile's fused float32 chains as a kernel of their own per chain: the chain becomes a type, nested generic structs
/// (<see cref="UnaryNode{TCode, TA}"/>, <see cref="BinaryNode{TCode, TA, TB}"/> over <see cref="Input0"/>..3, the op
/// codes as types), so ILGPU compiles it with every op known: no interpreter branches, intermediates in registers.
/// Compile fuses a step only into its single consumer, so a program is a tree (a step read twice would be computed
/// twice). Each distinct chain costs one kernel compile per process, as MLX's generated Metal kernels do; the
/// interpreter (<see cref="FusedKernels"/>) compiles once for all (GpuDevice.UseChainKernels).
/// </summary>
internal static class ChainKernels
{
    /// <summary>Nodes of a chain expanded into a tree, at most (a tree of the 16 steps a program may have has 33).</summary>
    public const int MaxNodes = 64;

    public static void Run<TChain>(ArrayView<float> x0, long s0, ArrayView<float> x1, long s1, ArrayView<float> x2, long s2,
        ArrayView<float> x3, long s3, ArrayView<float> o, long n)
        where TChain : struct, IChainNode
    {
        var inputs = new ChainInputs { X0 = x0, S0 = s0, X1 = x1, S1 = s1, X2 = x2, S2 = s2, X3 = x3, S3 = s3, N = n };
        long stride = (long)Grid.DimX * Group.DimX, quads = (n + 3) >> 2;
        for (long q = Grid.GlobalIndex.X; q < quads; q += stride)
        {
            default(TChain).Eval(q, inputs).Write(o, q, n);
        }
    }

    private static readonly Type[] Inputs = { typeof(Input0), typeof(Input1), typeof(Input2), typeof(Input3) };

    private static readonly Type[] Codes =
    {
        typeof(Op0), typeof(Op1), typeof(Op2), typeof(Op3), typeof(Op4), typeof(Op5),
        typeof(Op6), typeof(Op7), typeof(Op8), typeof(Op9), typeof(Op10), typeof(Op11),
        typeof(Op12), typeof(Op13), typeof(Op14), typeof(Op15), typeof(Op16), typeof(Op17),
        typeof(Op18), typeof(Op19), typeof(Op20), typeof(Op21), typeof(Op22), typeof(Op23),
        typeof(Op24), typeof(Op25), typeof(Op26), typeof(Op27), typeof(Op28), typeof(Op29),
        typeof(Op30), typeof(Op31), typeof(Op32), typeof(Op33),
    };

    /// <summary>
    /// The chain type of a fused program (4 ints per step: 0 unary / 1 binary, op code, two arguments, an argument &lt; 0
    /// being input -1-arg, else that step's result), or null when its tree has more than <see cref="MaxNodes"/> nodes
    /// or an op code no node type has.
    /// </summary>
    [UnconditionalSuppressMessage("AOT", "IL3050", Justification = "ILGPU emits code at run time: this assembly never runs trimmed or under NativeAOT.")]
    [UnconditionalSuppressMessage("Trimming", "IL2055", Justification = "ILGPU emits code at run time: this assembly never runs trimmed or under NativeAOT.")]
    public static Type? ChainType(int[] program)
    {
        int steps = program.Length / 4;
        var size = new long[steps];
        for (int j = 0; j < steps; j++)
        {
            long Size(int arg) => arg < 0 ? 1 : size[arg];
            size[j] = 1 + Size(program[4 * j + 2]) + (program[4 * j] == 0 ? 0 : Size(program[4 * j + 3]));
            int op = program[4 * j + 1];
            if (op < 0 || op >= Codes.Length || (program[4 * j] != 0 && op > (int)BinaryOp.ArcTan2))
            {
                return null;
            }
        }
        if (steps == 0 || size[steps - 1] > MaxNodes)
        {
            return null;
        }
        Type Node(int arg)
        {
            if (arg < 0)
            {
                return Inputs[-1 - arg];
            }
            var (kind, op, a, b) = (program[4 * arg], program[4 * arg + 1], program[4 * arg + 2], program[4 * arg + 3]);
            return kind == 0
                ? typeof(UnaryNode<,>).MakeGenericType(Codes[op], Node(a))
                : typeof(BinaryNode<,,>).MakeGenericType(Codes[op], Node(a), Node(b));
        }
        return Node(steps - 1);
    }
}

/// <summary>The fused chain's inputs: up to four, each full (step 1) or a scalar (step 0), over n elements.</summary>
internal struct ChainInputs
{
    public ArrayView<float> X0, X1, X2, X3;
    public long S0, S1, S2, S3, N;
}

/// <summary>A node of a fused chain: its value on quad q (elements 4q..4q+3) of the output.</summary>
internal interface IChainNode
{
    Quad<float> Eval(long q, ChainInputs inputs);
}

/// <summary>An op code as a type, so that a node's op is a constant when ILGPU compiles the chain.</summary>
internal interface IOpCode
{
    int Code { get; }
}

internal struct Input0 : IChainNode
{
    public readonly Quad<float> Eval(long q, ChainInputs x) => Quad<float>.Read(x.X0, x.S0, q, x.N);
}

internal struct Input1 : IChainNode
{
    public readonly Quad<float> Eval(long q, ChainInputs x) => Quad<float>.Read(x.X1, x.S1, q, x.N);
}

internal struct Input2 : IChainNode
{
    public readonly Quad<float> Eval(long q, ChainInputs x) => Quad<float>.Read(x.X2, x.S2, q, x.N);
}

internal struct Input3 : IChainNode
{
    public readonly Quad<float> Eval(long q, ChainInputs x) => Quad<float>.Read(x.X3, x.S3, q, x.N);
}

internal struct UnaryNode<TCode, TA> : IChainNode where TCode : struct, IOpCode where TA : struct, IChainNode
{
    public readonly Quad<float> Eval(long q, ChainInputs x)
    {
        var a = default(TA).Eval(q, x);
        int op = default(TCode).Code;
        return new Quad<float>(FloatMath.Unary(op, a.X), FloatMath.Unary(op, a.Y), FloatMath.Unary(op, a.Z), FloatMath.Unary(op, a.W));
    }
}

internal struct BinaryNode<TCode, TA, TB> : IChainNode where TCode : struct, IOpCode where TA : struct, IChainNode where TB : struct, IChainNode
{
    public readonly Quad<float> Eval(long q, ChainInputs x)
    {
        var a = default(TA).Eval(q, x);
        var b = default(TB).Eval(q, x);
        int op = default(TCode).Code;
        return new Quad<float>(FloatMath.Binary(op, a.X, b.X), FloatMath.Binary(op, a.Y, b.Y), FloatMath.Binary(op, a.Z, b.Z), FloatMath.Binary(op, a.W, b.W));
    }
}

#pragma warning disable SA1402, SA1649 // the op code types: one line each
internal struct Op0 : IOpCode { public readonly int Code => 0; }
internal struct Op1 : IOpCode { public readonly int Code => 1; }
internal struct Op2 : IOpCode { public readonly int Code => 2; }
internal struct Op3 : IOpCode { public readonly int Code => 3; }
internal struct Op4 : IOpCode { public readonly int Code => 4; }
internal struct Op5 : IOpCode { public readonly int Code => 5; }
internal struct Op6 : IOpCode { public readonly int Code => 6; }
internal struct Op7 : IOpCode { public readonly int Code => 7; }
internal struct Op8 : IOpCode { public readonly int Code => 8; }
internal struct Op9 : IOpCode { public readonly int Code => 9; }
internal struct Op10 : IOpCode { public readonly int Code => 10; }
internal struct Op11 : IOpCode { public readonly int Code => 11; }
internal struct Op12 : IOpCode { public readonly int Code => 12; }
internal struct Op13 : IOpCode { public readonly int Code => 13; }
internal struct Op14 : IOpCode { public readonly int Code => 14; }
internal struct Op15 : IOpCode { public readonly int Code => 15; }
internal struct Op16 : IOpCode { public readonly int Code => 16; }
internal struct Op17 : IOpCode { public readonly int Code => 17; }
internal struct Op18 : IOpCode { public readonly int Code => 18; }
internal struct Op19 : IOpCode { public readonly int Code => 19; }
internal struct Op20 : IOpCode { public readonly int Code => 20; }
internal struct Op21 : IOpCode { public readonly int Code => 21; }
internal struct Op22 : IOpCode { public readonly int Code => 22; }
internal struct Op23 : IOpCode { public readonly int Code => 23; }
internal struct Op24 : IOpCode { public readonly int Code => 24; }
internal struct Op25 : IOpCode { public readonly int Code => 25; }
internal struct Op26 : IOpCode { public readonly int Code => 26; }
internal struct Op27 : IOpCode { public readonly int Code => 27; }
internal struct Op28 : IOpCode { public readonly int Code => 28; }
internal struct Op29 : IOpCode { public readonly int Code => 29; }
internal struct Op30 : IOpCode { public readonly int Code => 30; }
internal struct Op31 : IOpCode { public readonly int Code => 31; }
internal struct Op32 : IOpCode { public readonly int Code => 32; }
internal struct Op33 : IOpCode { public readonly int Code => 33; }
#pragma warning restore SA1402, SA1649
