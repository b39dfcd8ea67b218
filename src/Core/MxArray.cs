using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;

namespace Mlx;

/// <summary>
/// An n-dimensional array: a shape, a dtype, and either data (after evaluation) or the node that will compute it.
/// Views (reshape, transpose, slices, broadcasts) share their source's buffer with other strides and offset.
/// </summary>
public sealed unsafe partial class MxArray : IDisposable
{
    private readonly int[] _shape;
    private Node? _node;
    private Buffer? _buffer;
    private long[] _strides;
    private long _offset;

    // Claims on the data: the owner's (until Dispose) and one per pending node that reads this array. At zero the
    // buffer goes back to the cache at once instead of when the GC finds the array.
    private int _claims = 1;
    private int _disposed;
    private bool _released;

    // Whether this array counts among its buffer's holders (see Buffer.Hold): every array given data by SetData and
    // the caller's arrays made from data; a kernel's temporaries hold nothing, so a buffer they hand to an output
    // (or a view of an input they make) is freed with that output (or input).
    private bool _holds;

    internal MxArray(int[] shape, DType dtype, Node node)
    {
        _shape = shape;
        DType = dtype;
        _node = node;
        _strides = Array.Empty<long>();
        DisposeScope.Register(this);
    }

    internal MxArray(int[] shape, DType dtype, Buffer buffer, long[] strides, long offset, bool holds = false)
    {
        _shape = shape;
        DType = dtype;
        if (holds)
        {
            buffer.Hold();
            _holds = true;
        }
        _buffer = buffer;
        _strides = strides;
        _offset = offset;
        DisposeScope.Register(this);
    }

    /// <summary>The dispose scope that will dispose this array, if any.</summary>
    internal DisposeScope? Scope { get; set; }

    /// <summary>
    /// Gives up this handle's claim on the data (Python's <c>del</c>): the memory returns to the cache as soon as no
    /// pending computation and no view needs it, instead of when the GC collects the array. Using the array after
    /// that throws <see cref="ObjectDisposedException"/>.
    /// </summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 0)
        {
            Unclaim();
        }
    }

    /// <summary>A pending node reads this array.</summary>
    internal void Claim() => Interlocked.Increment(ref _claims);

    /// <summary>A reader is done; at zero claims evaluated data is freed (pending data is freed once computed).</summary>
    internal void Unclaim()
    {
        if (Interlocked.Decrement(ref _claims) != 0)
        {
            return;
        }
        if (_node is null)
        {
            ReleaseData();
        }
        else
        {
            Abandon(this);
        }
    }

    /// <summary>
    /// A pending array nobody can read any more: when its siblings are unclaimed too, its node will never run, so
    /// the node lets go of its inputs, and so on up the graph (a derivative rule's unused branch, say).
    /// </summary>
    private static void Abandon(MxArray first)
    {
        lock (Evaluator.Lock)
        {
            var stack = new Stack<MxArray>();
            stack.Push(first);
            while (stack.Count > 0)
            {
                var a = stack.Pop();
                if (a._node is not { } node)
                {
                    // An evaluated input that nothing else claims: its data goes now.
                    if (a.Unclaimed) a.ReleaseData();
                    continue;
                }
                if (node.Outputs.Any(o => !o.Unclaimed))
                {
                    continue;
                }
                foreach (var o in node.Outputs)
                {
                    o._node = null;
                    o._released = true;
                }
                foreach (var input in node.Inputs)
                {
                    if (Interlocked.Decrement(ref input._claims) == 0) stack.Push(input);
                }
            }
        }
    }

    internal bool Unclaimed => Volatile.Read(ref _claims) <= 0;

    /// <summary>Drops the data of an array nobody can read any more.</summary>
    internal void ReleaseData()
    {
        if (_buffer is { } b)
        {
            _buffer = null;
            _released = true;
            if (_holds) b.Drop();
            _holds = false;
        }
    }

    private void ThrowIfDisposed()
    {
        if (_disposed != 0) throw new ObjectDisposedException(nameof(MxArray), "The array was disposed.");
    }

    /// <summary>Builds the outputs of one node: a primitive applied to inputs.</summary>
    internal static MxArray[] Create(int[][] shapes, DType[] dtypes, Primitive primitive, MxArray[] inputs)
    {
        var node = new Node(primitive, inputs);
        var outputs = new MxArray[shapes.Length];
        for (int i = 0; i < shapes.Length; i++)
        {
            outputs[i] = new MxArray(shapes[i], dtypes[i], node);
        }
        node.Outputs = outputs;
        return outputs;
    }

    internal static MxArray Create(int[] shape, DType dtype, Primitive primitive, params MxArray[] inputs) =>
        Create(new[] { shape }, new[] { dtype }, primitive, inputs)[0];

    public int[] Shape => (int[])_shape.Clone();

    internal int[] ShapeRef => _shape;

    public DType DType { get; }

    public int NDim => _shape.Length;

    public long Size
    {
        get
        {
            long n = 1;
            foreach (int d in _shape)
            {
                n *= d;
            }
            return n;
        }
    }

    public int ItemSize => DType.Size();

    public long NBytes => Size * ItemSize;

    /// <summary>A C# scalar literal turned into an array: it takes the other operand's dtype where it fits (MLX's weak type).</summary>
    internal bool IsWeak { get; init; }

    /// <summary>The exact value of a weak float or integer literal (its buffer holds it as float32 or int32).</summary>
    internal double? WeakFloat { get; init; }

    internal long? WeakInt { get; init; }

    internal Node? PendingNode => _node;

    /// <summary>The primitive that will compute this array, or null once it is evaluated.</summary>
    internal Primitive? Primitive => _node?.Primitive;

    internal MxArray[] Inputs => _node?.Inputs ?? Array.Empty<MxArray>();

    internal MxArray[] Siblings => _node?.Outputs ?? new[] { this };

    public bool IsEvaluated => _buffer is not null;

    /// <summary>Whether this array's data was freed (it was disposed and nothing else needed it).</summary>
    internal bool IsReleased => _released;

    internal Buffer Buffer => _buffer ?? throw (_released
        ? new ObjectDisposedException(nameof(MxArray), "The array's data was freed: it was disposed (or its dispose scope ended) and is used afterwards.")
        : new InvalidOperationException("The array has not been evaluated."));

    /// <summary>Strides in elements (valid after evaluation).</summary>
    internal long[] Strides => _strides;

    internal long Offset => _offset;

    internal void Detach() => _node = null;

    /// <summary>Gives this array fresh row-major data.</summary>
    internal Buffer AllocateData()
    {
        var buffer = Allocator.Allocate(NBytes);
        SetData(buffer, RowMajorStrides(_shape), 0);
        return buffer;
    }

    internal void SetData(Buffer buffer, long[] strides, long offset)
    {
        buffer.Hold();
        if (_holds) _buffer?.Drop();
        _holds = true;
        _buffer = buffer;
        _strides = strides;
        _offset = offset;
    }

    /// <summary>Shares <paramref name="source"/>'s buffer with other strides and offset.</summary>
    internal void SetView(MxArray source, long[] strides, long offset) => SetData(source.Buffer, strides, offset);

    internal T* Ptr<T>() where T : unmanaged => Buffer.Ptr<T>() + _offset;

    internal byte* RawPtr => (byte*)Buffer.Pointer + _offset * ItemSize;

    internal bool IsRowContiguous
    {
        get
        {
            long expected = 1;
            for (int i = _shape.Length - 1; i >= 0; i--)
            {
                if (_shape[i] != 1 && _strides[i] != expected)
                {
                    return false;
                }
                expected *= _shape[i];
            }
            return true;
        }
    }

    internal static long[] RowMajorStrides(int[] shape) => Mlx.Kernels.Strided.RowMajor(shape);

    /// <summary>Evaluates (if needed) and copies the elements out in row-major order, converting to <typeparamref name="T"/>'s dtype.</summary>
    public T[] ToArray<T>() where T : unmanaged
    {
        ThrowIfDisposed();
        var dtype = DTypes.Of<T>();
        var source = dtype == DType ? this : Mx.AsType(this, dtype);
        Mx.Eval(source);
        var result = new T[source.Size];
        if (result.Length == 0)
        {
            return result;
        }
        fixed (T* dst = result)
        {
            if (source.IsRowContiguous)
            {
                new ReadOnlySpan<T>(source.Ptr<T>(), result.Length).CopyTo(result);
            }
            else
            {
                Mlx.Kernels.Strided.Copy(source.Ptr<T>(), source._shape, source._strides, dst);
            }
        }
        return result;
    }

    /// <summary>The value of a one-element array.</summary>
    public T Item<T>() where T : unmanaged
    {
        if (Size != 1)
        {
            throw new InvalidOperationException($"Item() needs an array of one element; this one has shape {FormatShape(_shape)}.");
        }
        return ToArray<T>()[0];
    }

    /// <summary>This array converted to <paramref name="dtype"/>.</summary>
    public MxArray AsType(DType dtype) => Mx.AsType(this, dtype);

    /// <summary>The transpose (axes reversed), a view.</summary>
    public MxArray T => Mx.Transpose(this);

    internal static string FormatShape(int[] shape) => "(" + string.Join(", ", shape) + (shape.Length == 1 ? ",)" : ")");

    /// <summary>Printed as MLX prints: <c>array([1, 2, 3], dtype=int32)</c>. Evaluates the array.</summary>
    public override string ToString()
    {
        ThrowIfDisposed();
        var sb = new StringBuilder("array(");
        string[] items = FormatElements();
        if (_shape.Length == 0)
        {
            sb.Append(items[0]);
        }
        else
        {
            AppendNested(sb, items, 0, 0, RowMajorStrides(_shape));
        }
        sb.Append(", dtype=").Append(DType.Name()).Append(')');
        return sb.ToString();
    }

    // MLX's print_subarray: rows of a non-last axis end with ",\n" and the next starts 7 + dim spaces in; an axis
    // longer than 6 prints its first 3 and last 3 entries around "...".
    private void AppendNested(StringBuilder sb, string[] items, int dim, long index, long[] strides)
    {
        int n = _shape[dim];
        bool last = dim == _shape.Length - 1;
        sb.Append('[');
        for (int i = 0; i < n; i++)
        {
            if (i > 0 && !last)
            {
                sb.Append(' ', 7 + dim);
            }
            if (i == 3 && n > 6)
            {
                sb.Append("...");
                i = n - 4;
            }
            else if (last)
            {
                sb.Append(items[index + i * strides[dim]]);
            }
            else
            {
                AppendNested(sb, items, dim + 1, index + i * strides[dim], strides);
            }
            if (i != n - 1)
            {
                sb.Append(last ? ", " : ",\n");
            }
        }
        sb.Append(']');
    }

    private string[] FormatElements()
    {
        switch (DType)
        {
            case DType.Bool:
                return ToArray<bool>().Select(b => b ? "True" : "False").ToArray();
            case DType.Complex64:
                // PrintFormatter: "+" and the imaginary part when it is >= 0 or NaN (so -0 prints "+-0"), else "-" and its negation.
                return ToArray<Complex64>().Select(c => FormatFloat(c.Real) + (c.Imag >= 0 || float.IsNaN(c.Imag) ? "+" + FormatFloat(c.Imag) : "-" + FormatFloat(-c.Imag)) + "j").ToArray();
            case DType.Float16 or DType.Float32 or DType.BFloat16:
                return ToArray<float>().Select(f => FormatFloat(f)).ToArray();
            case DType.Float64:
                return ToArray<double>().Select(FormatFloat).ToArray();
            case DType.UInt64:
                return ToArray<ulong>().Select(v => v.ToString(CultureInfo.InvariantCulture)).ToArray();
            default:
                return ToArray<long>().Select(v => v.ToString(CultureInfo.InvariantCulture)).ToArray();
        }
    }

    // C++ ostream's default (%g, 6 significant digits), which MLX's printer uses.
    internal static string FormatFloat(double v)
    {
        if (double.IsNaN(v)) return "nan";
        if (double.IsPositiveInfinity(v)) return "inf";
        if (double.IsNegativeInfinity(v)) return "-inf";
        string s = v.ToString("G6", CultureInfo.InvariantCulture).Replace("E", "e");
        return s;
    }
}
